"""aiocoap (Python) as a second CoAP peer for the tests: a server on 127.0.0.1:PORT with

  /echo    POST: answers 2.04 with the request's payload
  /store   PUT: keeps the body (block-wise as aiocoap does it), GET: returns it
  /clock   GET, observable: a counter, notified every 200 ms

It prints "listening" once it serves, and runs until killed.

    aiocoap_peer.py observe URL N   observes URL, prints "note <payload>" for N notifications
                                    and exits (aiocoap-client's --observe prints none in 0.4.17)
    aiocoap_peer.py oscore-server PORT DIR
                                    the same site behind OSCORE (the security context in DIR:
                                    aiocoap's settings.json), plain requests refused
    aiocoap_peer.py oscore-post URL DIR PAYLOAD
                                    POSTs PAYLOAD to URL protected with the context in DIR and
                                    prints "<code> <payload>" of the response
"""

import asyncio
import sys

import aiocoap
import aiocoap.resource as resource


class Echo(resource.Resource):
    async def render_post(self, request):
        return aiocoap.Message(code=aiocoap.CHANGED, payload=request.payload)


class Store(resource.Resource):
    def __init__(self):
        super().__init__()
        self.body = b""

    async def render_put(self, request):
        created = not self.body
        self.body = request.payload
        return aiocoap.Message(code=aiocoap.CREATED if created else aiocoap.CHANGED)

    async def render_get(self, request):
        return aiocoap.Message(payload=self.body)


class Clock(resource.ObservableResource):
    def __init__(self):
        super().__init__()
        self.count = 0
        self.handle = None
        self.reschedule()

    def reschedule(self):
        self.handle = asyncio.get_event_loop().call_later(0.2, self.tick)

    def tick(self):
        self.count += 1
        self.updated_state()
        self.reschedule()

    async def render_get(self, request):
        return aiocoap.Message(payload=str(self.count).encode())


def site():
    root = resource.Site()
    root.add_resource(["echo"], Echo())
    root.add_resource(["store"], Store())
    root.add_resource(["clock"], Clock())
    return root


async def main(port):
    # UDP only: the tests pick a free UDP port, and aiocoap's default TCP listener on the same
    # number could find it taken by another test's connection (address already in use).
    await aiocoap.Context.create_server_context(
        site(), bind=("127.0.0.1", port), transports=["udp6"]
    )
    print("listening", flush=True)
    await asyncio.get_running_loop().create_future()


async def oscore_server(port, basedir):
    from aiocoap.credentials import CredentialsMap
    from aiocoap.oscore_sitewrapper import OscoreSiteWrapper

    credentials = CredentialsMap()
    credentials.load_from_dict({":telemetra": {"oscore": {"basedir": basedir}}})
    protected = OscoreSiteWrapper(site(), credentials)
    await aiocoap.Context.create_server_context(
        protected,
        bind=("127.0.0.1", port),
        server_credentials=credentials,
        transports=["oscore", "udp6"],
    )
    print("listening", flush=True)
    await asyncio.get_running_loop().create_future()


async def oscore_post(url, basedir, payload):
    ctx = await aiocoap.Context.create_client_context()
    ctx.client_credentials.load_from_dict({url: {"oscore": {"basedir": basedir}}})
    response = await ctx.request(
        aiocoap.Message(code=aiocoap.POST, uri=url, payload=payload.encode())
    ).response
    print(response.code, response.payload.decode(errors="replace"), flush=True)


async def observe(url, count):
    ctx = await aiocoap.Context.create_client_context()
    request = ctx.request(aiocoap.Message(code=aiocoap.GET, uri=url, observe=0))
    first = await request.response
    print("registered", first.code, flush=True)
    seen = 0
    async for note in request.observation:
        print("note", note.payload.decode(errors="replace"), flush=True)
        seen += 1
        if seen >= count:
            break


if __name__ == "__main__":
    if sys.argv[1] == "observe":
        asyncio.run(observe(sys.argv[2], int(sys.argv[3])))
    elif sys.argv[1] == "oscore-server":
        asyncio.run(oscore_server(int(sys.argv[2]), sys.argv[3]))
    elif sys.argv[1] == "oscore-post":
        asyncio.run(oscore_post(sys.argv[2], sys.argv[3], sys.argv[4]))
    else:
        asyncio.run(main(int(sys.argv[1])))
