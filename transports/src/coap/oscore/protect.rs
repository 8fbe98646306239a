//! Protecting and unprotecting messages (RFC 8613 §5, §8): the plain message's code, inner
//! options and payload become the ciphertext of the outer message, whose code is POST (FETCH
//! for an observation) or 2.04 Changed (2.05 Content for a notification), and which keeps only
//! the outer options and the OSCORE option.
//!
//! Each function writes into the caller's `buf`, which must hold twice the larger of the two
//! messages (its upper half is the working space for the plaintext).

use minicbor::Encoder;
use minicbor::encode::write::Cursor;
use telemetra_core::heapless;

use super::OscoreError;
use super::context::{ALG, MAX_ID, NONCE, SecurityContext, TAG, piv_value};
use crate::coap::message::split_body;
use crate::coap::{Builder, Code, Message, OptionNumber, Options, Type};

/// What ties a response to its request: the request's kid and Partial IV (in the AAD of both)
/// and its nonce (which a response without a Partial IV reuses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    kid: heapless::Vec<u8, MAX_ID>,
    piv: heapless::Vec<u8, 5>,
    nonce: [u8; NONCE],
    /// The request's freshness is not established: its nonce must not be reused (the same
    /// request may come again), so responses carry a Partial IV of their own.
    own_piv: bool,
}

/// Options a proxy must see (Class U, §4.1): Uri-Host, Uri-Port, Proxy-Uri, Proxy-Scheme.
/// Observe is both inner and outer (§4.1.3.5).
fn outer_only(n: OptionNumber) -> bool {
    matches!(
        n,
        OptionNumber::URI_HOST
            | OptionNumber::URI_PORT
            | OptionNumber::PROXY_URI
            | OptionNumber::PROXY_SCHEME
    )
}

/// The AAD: the COSE Enc_structure over the external AAD of §5.4 (no Class I options).
fn aad(kid: &[u8], piv: &[u8], out: &mut [u8; 64]) -> Result<usize, OscoreError> {
    let mut external = [0u8; 32];
    let ext_len = {
        let mut e = Encoder::new(Cursor::new(&mut external[..]));
        e.array(5)
            .and_then(|e| e.u8(1))
            .and_then(|e| e.array(1))
            .and_then(|e| e.u8(ALG))
            .and_then(|e| e.bytes(kid))
            .and_then(|e| e.bytes(piv))
            .and_then(|e| e.bytes(&[]))
            .map_err(|_| OscoreError::BufferTooSmall)?;
        e.writer().position()
    };
    let mut e = Encoder::new(Cursor::new(&mut out[..]));
    e.array(3)
        .and_then(|e| e.str("Encrypt0"))
        .and_then(|e| e.bytes(&[]))
        .and_then(|e| e.bytes(&external[..ext_len]))
        .map_err(|_| OscoreError::BufferTooSmall)?;
    Ok(e.writer().position())
}

/// The OSCORE option's value (§6.1): flags, Partial IV, kid context, kid.
fn option_value(
    piv: Option<&[u8]>,
    kid: Option<&[u8]>,
    kid_context: Option<&[u8]>,
) -> Result<heapless::Vec<u8, 32>, OscoreError> {
    let mut v = heapless::Vec::new();
    let n = piv.map_or(0, <[u8]>::len) as u8;
    let flags = n | u8::from(kid.is_some()) << 3 | u8::from(kid_context.is_some()) << 4;
    if flags == 0 {
        return Ok(v);
    }
    let full = |_| OscoreError::BufferTooSmall;
    v.push(flags).map_err(full)?;
    v.extend_from_slice(piv.unwrap_or_default()).map_err(|_| OscoreError::BufferTooSmall)?;
    if let Some(c) = kid_context {
        v.push(c.len() as u8).map_err(full)?;
        v.extend_from_slice(c).map_err(|_| OscoreError::BufferTooSmall)?;
    }
    v.extend_from_slice(kid.unwrap_or_default()).map_err(|_| OscoreError::BufferTooSmall)?;
    Ok(v)
}

/// An OSCORE option read: Partial IV, kid, kid context.
struct Parsed<'a> {
    piv: Option<&'a [u8]>,
    kid: Option<&'a [u8]>,
    kid_context: Option<&'a [u8]>,
}

fn parse_option(v: &[u8]) -> Result<Parsed<'_>, OscoreError> {
    let Some((&flags, rest)) = v.split_first() else {
        return Ok(Parsed { piv: None, kid: None, kid_context: None });
    };
    let n = usize::from(flags & 7);
    // Bits 5 to 7 are reserved; n 6 and 7 too.
    if flags & 0xe0 != 0 || n > 5 {
        return Err(OscoreError::BadOption);
    }
    let (piv, mut rest) = rest.split_at_checked(n).ok_or(OscoreError::BadOption)?;
    let mut kid_context = None;
    if flags & 0x10 != 0 {
        let (&s, after) = rest.split_first().ok_or(OscoreError::BadOption)?;
        let (c, after) = after.split_at_checked(usize::from(s)).ok_or(OscoreError::BadOption)?;
        kid_context = Some(c);
        rest = after;
    }
    let kid = (flags & 0x08 != 0).then_some(rest);
    if kid.is_none() && !rest.is_empty() {
        return Err(OscoreError::BadOption);
    }
    Ok(Parsed { piv: (n > 0).then_some(piv), kid, kid_context })
}

/// Writes the options of `a` and `b` (each in order, numbers disjoint) merged in order, and
/// `extra` at its number.
fn merge<'v>(
    builder: &mut Builder<'_>,
    a: impl Iterator<Item = (OptionNumber, &'v [u8])>,
    b: impl Iterator<Item = (OptionNumber, &'v [u8])>,
    extra: Option<(OptionNumber, &'v [u8])>,
) -> Result<(), OscoreError> {
    let mut a = a.peekable();
    let mut b = b.peekable();
    let mut extra = extra;
    loop {
        let next_a = a.peek().map(|(n, _)| *n);
        let next_b = b.peek().map(|(n, _)| *n);
        let least = [next_a, next_b, extra.map(|(n, _)| n)].into_iter().flatten().min();
        let Some(n) = least else { return Ok(()) };
        let (number, value) = if extra.is_some_and(|(e, _)| e == n) {
            extra.take().ok_or(OscoreError::BufferTooSmall)?
        } else if next_a == Some(n) {
            a.next().ok_or(OscoreError::BufferTooSmall)?
        } else {
            b.next().ok_or(OscoreError::BufferTooSmall)?
        };
        builder.option(number, value).map_err(|_| OscoreError::BufferTooSmall)?;
    }
}

/// The plaintext of `plain` (§5.3): its code, inner options and payload, written in `space`.
fn plaintext<'s>(plain: &Message<'_>, space: &'s mut [u8]) -> Result<&'s mut [u8], OscoreError> {
    let small = |_| OscoreError::BufferTooSmall;
    let len = {
        let mut b = Builder::new(space, Type::Con, plain.code, 0, &[]).map_err(small)?;
        for (n, v) in plain.options().filter(|(n, _)| !outer_only(*n) && *n != OptionNumber::OSCORE) {
            b.option(n, v).map_err(small)?;
        }
        b.payload(plain.payload).map_err(small)?.len()
    };
    // The builder's four-byte header less its last byte: the code right before the options.
    space[3] = plain.code.0;
    Ok(&mut space[3..len])
}

/// Builds the outer message in `out`: the header of `plain` with `code`, its outer options
/// (and Observe), the OSCORE option, then the ciphertext of `text`.
#[allow(clippy::too_many_arguments)]
fn seal_into<'b>(
    ctx: &SecurityContext,
    plain: &Message<'_>,
    code: Code,
    option: &[u8],
    nonce: &[u8; NONCE],
    aad: &[u8],
    out: &'b mut [u8],
    text: &mut [u8],
) -> Result<&'b [u8], OscoreError> {
    let small = |_| OscoreError::BufferTooSmall;
    let head = {
        let mut b = Builder::new(out, plain.ty, code, plain.message_id, plain.token).map_err(small)?;
        let outer = plain.options().filter(|(n, _)| outer_only(*n) || *n == OptionNumber::OBSERVE);
        merge(&mut b, outer, Options::over(&[]), Some((OptionNumber::OSCORE, option)))?;
        b.finish().len()
    };
    let tag = ctx.seal(nonce, aad, text)?;
    let end = head + 1 + text.len() + TAG;
    let dst = out.get_mut(head..end).ok_or(OscoreError::BufferTooSmall)?;
    dst[0] = 0xff;
    dst[1..1 + text.len()].copy_from_slice(text);
    dst[1 + text.len()..].copy_from_slice(&tag);
    Ok(&out[..end])
}

/// Decrypts the payload of `outer` in `space`; returns the plaintext (code, options, payload).
fn open_into<'s>(
    ctx: &SecurityContext,
    outer: &Message<'_>,
    nonce: &[u8; NONCE],
    aad: &[u8],
    space: &'s mut [u8],
) -> Result<&'s [u8], OscoreError> {
    let data_len = outer.payload.len().checked_sub(TAG).ok_or(OscoreError::Decrypt)?;
    let (data, tag) = outer.payload.split_at(data_len);
    let text = space.get_mut(..data_len).ok_or(OscoreError::BufferTooSmall)?;
    text.copy_from_slice(data);
    ctx.open(nonce, aad, text, tag)?;
    Ok(text)
}

/// Rebuilds the plain message in `out` from `outer`'s header and outer options and the
/// decrypted `text`.
fn rebuild<'b>(outer: &Message<'_>, text: &[u8], out: &'b mut [u8]) -> Result<&'b [u8], OscoreError> {
    let (&code, rest) = text.split_first().ok_or(OscoreError::BadPlaintext)?;
    let (inner, payload) = split_body(rest).map_err(|_| OscoreError::BadPlaintext)?;
    let small = |_| OscoreError::BufferTooSmall;
    let mut b = Builder::new(out, outer.ty, Code(code), outer.message_id, outer.token).map_err(small)?;
    // The inner Observe is the one that counts; the outer one was for proxies.
    let outer_options = outer.options().filter(|(n, _)| outer_only(*n));
    merge(&mut b, outer_options, Options::over(inner), None)?;
    b.payload(payload).map_err(small)
}

/// The kid of a protected request (the Sender ID of its sender), to find its context:
/// `Ok(None)` for a message without the OSCORE option.
pub fn kid_of<'a>(m: &Message<'a>) -> Result<Option<&'a [u8]>, OscoreError> {
    let Some(option) = m.option(OptionNumber::OSCORE) else { return Ok(None) };
    parse_option(option)?.kid.map(Some).ok_or(OscoreError::BadOption)
}

fn halves(buf: &mut [u8]) -> (&mut [u8], &mut [u8]) {
    let mid = buf.len() / 2;
    buf.split_at_mut(mid)
}

/// Protects the request `plain` with `ctx` (a fresh Partial IV from its sequence number);
/// returns the protected message and what its response is bound to.
pub fn protect_request<'b>(
    ctx: &mut SecurityContext,
    plain: &Message<'_>,
    buf: &'b mut [u8],
) -> Result<(&'b [u8], Binding), OscoreError> {
    let piv = ctx.next_piv()?;
    let nonce = ctx.nonce(&ctx.sender_id, &piv);
    let mut a = [0u8; 64];
    let aad_len = aad(&ctx.sender_id, &piv, &mut a)?;
    let option = option_value(Some(&piv), Some(&ctx.sender_id), ctx.id_context.as_deref())?;
    let code = if plain.option(OptionNumber::OBSERVE).is_some() { Code::FETCH } else { Code::POST };
    let (out, space) = halves(buf);
    let text = plaintext(plain, space)?;
    let bytes = seal_into(ctx, plain, code, &option, &nonce, &a[..aad_len], out, text)?;
    Ok((bytes, Binding { kid: ctx.sender_id.clone(), piv, nonce, own_piv: false }))
}

/// Verifies and decrypts the protected request `outer` with `ctx` (its kid must be the
/// context's Recipient ID, its Partial IV fresh in the replay window); returns the plain
/// request and what the response must be bound to.
pub fn unprotect_request<'b>(
    ctx: &mut SecurityContext,
    outer: &Message<'_>,
    buf: &'b mut [u8],
) -> Result<(&'b [u8], Binding), OscoreError> {
    let option = outer.option(OptionNumber::OSCORE).ok_or(OscoreError::NotProtected)?;
    let parsed = parse_option(option)?;
    let (Some(piv), Some(kid)) = (parsed.piv, parsed.kid) else { return Err(OscoreError::BadOption) };
    if kid != ctx.recipient_id.as_slice()
        || parsed.kid_context.is_some_and(|c| Some(c) != ctx.id_context.as_deref())
    {
        return Err(OscoreError::UnknownKid);
    }
    let seq = piv_value(piv);
    let known = ctx.replay.is_known();
    if known && !ctx.replay.is_fresh(seq) {
        return Err(OscoreError::Replay);
    }
    let nonce = ctx.nonce(kid, piv);
    let mut a = [0u8; 64];
    let aad_len = aad(kid, piv, &mut a)?;
    let (out, space) = halves(buf);
    let text = open_into(ctx, outer, &nonce, &a[..aad_len], space)?;
    if known {
        ctx.replay.take(seq);
    }
    let plain = rebuild(outer, text, out)?;
    if !known {
        // Appendix B.1.2: only a request that carries the Echo value given since the restart
        // is known to be fresh; it starts the window again.
        let echoed = Message::parse(plain).ok().and_then(|m| m.option(OptionNumber::ECHO));
        if echoed.is_none() || echoed != ctx.echo.as_ref().map(|e| &e[..]) {
            return Err(OscoreError::FreshnessUnknown);
        }
        ctx.replay.start_at(seq);
        ctx.echo = None;
    }
    Ok((plain, binding(kid, piv, nonce, false)?))
}

fn binding(kid: &[u8], piv: &[u8], nonce: [u8; NONCE], own_piv: bool) -> Result<Binding, OscoreError> {
    Ok(Binding {
        kid: heapless::Vec::from_slice(kid).map_err(|_| OscoreError::UnknownKid)?,
        piv: heapless::Vec::from_slice(piv).map_err(|_| OscoreError::BadOption)?,
        nonce,
        own_piv,
    })
}

/// The answer to a request [`unprotect_request`] refused with
/// [`OscoreError::FreshnessUnknown`]: a 4.01 Unauthorized carrying the context's Echo value,
/// protected with a Partial IV of its own (the request's nonce may not be reused: it can be a
/// replay). `request` is the protected request as received; the response takes its type
/// (ACK for a CON, NON for a NON), Message ID and token.
pub fn echo_challenge<'b>(
    ctx: &mut SecurityContext,
    request: &Message<'_>,
    buf: &'b mut [u8],
) -> Result<&'b [u8], OscoreError> {
    let echo = ctx.echo.ok_or(OscoreError::NoChallenge)?;
    let option = request.option(OptionNumber::OSCORE).ok_or(OscoreError::NotProtected)?;
    let parsed = parse_option(option)?;
    let (Some(piv), Some(kid)) = (parsed.piv, parsed.kid) else { return Err(OscoreError::BadOption) };
    if kid != ctx.recipient_id.as_slice() {
        return Err(OscoreError::UnknownKid);
    }
    let bound = binding(kid, piv, ctx.nonce(kid, piv), true)?;
    let ty = if request.ty == Type::Con { Type::Ack } else { Type::Non };
    let mut plain = [0u8; 48];
    let small = |_| OscoreError::BufferTooSmall;
    let mut b =
        Builder::new(&mut plain, ty, Code::UNAUTHORIZED, request.message_id, request.token).map_err(small)?;
    b.option(OptionNumber::ECHO, &echo).map_err(small)?;
    let plain = Message::parse(b.finish()).map_err(|_| OscoreError::BufferTooSmall)?;
    protect_response(ctx, &bound, &plain, buf)
}

/// Protects the response `plain` to the request `binding` names. A notification (with
/// Observe), or the answer to a request not known to be fresh, gets a Partial IV of its own;
/// any other response reuses the request's nonce and carries an empty OSCORE option.
pub fn protect_response<'b>(
    ctx: &mut SecurityContext,
    binding: &Binding,
    plain: &Message<'_>,
    buf: &'b mut [u8],
) -> Result<&'b [u8], OscoreError> {
    let observe = plain.option(OptionNumber::OBSERVE).is_some();
    let (nonce, option) = if observe || binding.own_piv {
        let piv = ctx.next_piv()?;
        (ctx.nonce(&ctx.sender_id, &piv), option_value(Some(&piv), None, None)?)
    } else {
        (binding.nonce, option_value(None, None, None)?)
    };
    let mut a = [0u8; 64];
    let aad_len = aad(&binding.kid, &binding.piv, &mut a)?;
    let code = if observe { Code::CONTENT } else { Code::CHANGED };
    let (out, space) = halves(buf);
    let text = plaintext(plain, space)?;
    seal_into(ctx, plain, code, &option, &nonce, &a[..aad_len], out, text)
}

/// Verifies and decrypts the protected response `outer` to the request `binding` names.
pub fn unprotect_response<'b>(
    ctx: &mut SecurityContext,
    binding: &Binding,
    outer: &Message<'_>,
    buf: &'b mut [u8],
) -> Result<&'b [u8], OscoreError> {
    let option = outer.option(OptionNumber::OSCORE).ok_or(OscoreError::NotProtected)?;
    let parsed = parse_option(option)?;
    let nonce = match parsed.piv {
        Some(piv) => ctx.nonce(&ctx.recipient_id, piv),
        None => binding.nonce,
    };
    let mut a = [0u8; 64];
    let aad_len = aad(&binding.kid, &binding.piv, &mut a)?;
    let (out, space) = halves(buf);
    let text = open_into(ctx, outer, &nonce, &a[..aad_len], space)?;
    rebuild(outer, text, out)
}
