//! The inverse of `arbitrary`'s decoding for the `connection` target's
//! input types, so that the seed corpus can hold meaningful operation
//! sequences written as Rust values.
//!
//! It mirrors arbitrary 1.x: integers are little-endian and take their
//! full width, `bool` is one byte (low bit), `Option` is a `bool` then the
//! value, a derived enum is a `u32` tag `t` choosing variant
//! `(t × variants) >> 32` followed by the variant's fields, and a struct is
//! its fields in order. The `seeds` tests decode every encoding and
//! compare, so a change in `arbitrary`'s format is caught.

use crate::conn::{Forge, Input, Op, Setup, Target};

/// Appends the bytes that `arbitrary` decodes to `self`.
pub trait Encode {
    /// Writes `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);
}

macro_rules! encode_int {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
encode_int!(u8, u16, u32, i32);

impl Encode for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.is_some().encode(out);
        if let Some(v) = self {
            v.encode(out);
        }
    }
}

impl<T: Encode, const N: usize> Encode for [T; N] {
    fn encode(&self, out: &mut Vec<u8>) {
        for v in self {
            v.encode(out);
        }
    }
}

impl<A: Encode, B: Encode> Encode for (A, B) {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
        self.1.encode(out);
    }
}

/// The smallest tag that selects variant `index` of `count`.
fn tag(index: u32, count: u32, out: &mut Vec<u8>) {
    let t = ((u64::from(index) << 32).div_ceil(u64::from(count))) as u32;
    debug_assert_eq!((u64::from(t) * u64::from(count)) >> 32, u64::from(index));
    t.encode(out);
}

impl Encode for Setup {
    fn encode(&self, out: &mut Vec<u8>) {
        self.seed.encode(out);
        self.timestamps.encode(out);
        self.sack.encode(out);
        self.window_scale.encode(out);
        self.nodelay.encode(out);
        self.mss.encode(out);
        self.send_buffer.encode(out);
        self.recv_buffer.encode(out);
        self.handshake.encode(out);
        self.recovery.encode(out);
    }
}

impl Encode for Target {
    fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            Target::Conn => tag(0, 3, out),
            Target::Listener { src_port } => {
                tag(1, 3, out);
                src_port.encode(out);
            }
            Target::ClosedPort { src_port } => {
                tag(2, 3, out);
                src_port.encode(out);
            }
        }
    }
}

impl Encode for Forge {
    fn encode(&self, out: &mut Vec<u8>) {
        self.to_server.encode(out);
        self.sel.encode(out);
        self.target.encode(out);
        self.flags.encode(out);
        self.seq_off.encode(out);
        self.ack_off.encode(out);
        self.len.encode(out);
        self.window.encode(out);
        self.mss.encode(out);
        self.ws.encode(out);
        self.sack_ok.encode(out);
        self.ts.encode(out);
        self.sack.encode(out);
    }
}

/// Number of [`Op`] variants.
const OP_VARIANTS: u32 = 19;

impl Encode for Op {
    fn encode(&self, out: &mut Vec<u8>) {
        let v = |i: u32, out: &mut Vec<u8>| tag(i, OP_VARIANTS, out);
        match *self {
            Op::Deliver => v(0, out),
            Op::DeliverMany => v(1, out),
            Op::Drop => v(2, out),
            Op::Duplicate => v(3, out),
            Op::Reorder { to } => {
                v(4, out);
                to.encode(out);
            }
            Op::Corrupt { at, bit } => {
                v(5, out);
                (at, bit).encode(out);
            }
            Op::Forge(f) => {
                v(6, out);
                f.encode(out);
            }
            Op::Advance { ms } => {
                v(7, out);
                ms.encode(out);
            }
            Op::AdvanceToDeadline => v(8, out),
            Op::AdvanceSecs { secs } => {
                v(9, out);
                secs.encode(out);
            }
            Op::Send { client, sel, len } => {
                v(10, out);
                (client, sel).encode(out);
                len.encode(out);
            }
            Op::Recv { client, sel, len } => {
                v(11, out);
                (client, sel).encode(out);
                len.encode(out);
            }
            Op::Shutdown { client, sel } => {
                v(12, out);
                (client, sel).encode(out);
            }
            Op::Close { client, sel } => {
                v(13, out);
                (client, sel).encode(out);
            }
            Op::Abort { client, sel } => {
                v(14, out);
                (client, sel).encode(out);
            }
            Op::SetNodelay { client, sel, on } => {
                v(15, out);
                (client, sel).encode(out);
                on.encode(out);
            }
            Op::SetKeepalive { client, sel, idle_ms } => {
                v(16, out);
                (client, sel).encode(out);
                idle_ms.encode(out);
            }
            Op::Connect { closed_port } => {
                v(17, out);
                closed_port.encode(out);
            }
            Op::Icmp { kind, mtu, stale } => {
                v(18, out);
                (kind, mtu).encode(out);
                stale.encode(out);
            }
        }
    }
}

impl Encode for Input {
    fn encode(&self, out: &mut Vec<u8>) {
        self.setup.encode(out);
        for op in &self.ops {
            op.encode(out);
        }
    }
}
