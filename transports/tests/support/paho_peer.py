#!/usr/bin/env python3
"""A second MQTT client implementation for the interoperability matrix: Eclipse paho-mqtt.

    paho_peer.py pub HOST PORT VERSION QOS COUNT TOPIC
        publishes COUNT messages (payload: the index, 4 bytes big-endian) and waits for every
        acknowledgement; prints "published N"
    paho_peer.py sub HOST PORT VERSION QOS COUNT TOPIC TIMEOUT
        subscribes, prints "ready" once the broker answered, then counts what arrives until
        COUNT distinct messages came and nothing more for a second, or TIMEOUT seconds passed;
        prints "counted DISTINCT TOTAL FIRST,FEW,MISSING"

VERSION is 3.1.1 or 5. Installed by scripts/test (`pip install paho-mqtt`).
"""
import struct
import sys
import threading
import time

import paho.mqtt.client as mqtt


def make(client_id, version):
    protocol = mqtt.MQTTv5 if version == "5" else mqtt.MQTTv311
    c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
    c.max_inflight_messages_set(20)
    return c


def publish(host, port, version, qos, count, topic):
    c = make(f"paho-pub-{version}-{qos}", version)
    connected = threading.Event()
    c.on_connect = lambda *args: connected.set()
    c.connect(host, port, keepalive=30)
    c.loop_start()
    if not connected.wait(10):
        sys.exit("paho: no CONNACK")
    infos = [c.publish(topic, struct.pack(">I", i), qos=qos) for i in range(count)]
    for info in infos:
        info.wait_for_publish(timeout=30)
    c.disconnect()
    c.loop_stop()
    print("published", sum(1 for i in infos if i.is_published()), flush=True)


def subscribe(host, port, version, qos, count, topic, timeout):
    c = make(f"paho-sub-{version}-{qos}", version)
    seen = {}
    lock = threading.Lock()
    last = [time.monotonic()]
    ready = threading.Event()

    def on_message(client, userdata, message):
        (i,) = struct.unpack(">I", message.payload[:4])
        with lock:
            seen[i] = seen.get(i, 0) + 1
            last[0] = time.monotonic()

    c.on_message = on_message
    c.on_connect = lambda client, *args: client.subscribe(topic, qos=qos)
    c.on_subscribe = lambda *args: ready.set()
    c.connect(host, port, keepalive=30)
    c.loop_start()
    if not ready.wait(10):
        sys.exit("paho: no SUBACK")
    print("ready", flush=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with lock:
            done = len(seen) >= count and time.monotonic() - last[0] > 1.0
        if done:
            break
        time.sleep(0.05)
    c.disconnect()
    c.loop_stop()
    with lock:
        missing = [i for i in range(count) if i not in seen][:10]
        print("counted", len(seen), sum(seen.values()), ",".join(map(str, missing)), flush=True)


if __name__ == "__main__":
    mode, host, port, version, qos, count, topic = sys.argv[1:8]
    if mode == "pub":
        publish(host, int(port), version, int(qos), int(count), topic)
    else:
        subscribe(host, int(port), version, int(qos), int(count), topic, float(sys.argv[8]))
