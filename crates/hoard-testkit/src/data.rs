//! Deterministic test data: [`artifact`] (compresses like compiled code) and [`noise`]
//! (does not compress at all), both built on a small SplitMix64 generator.

/// SplitMix64 (Steele, Lea and Flood, 2014): a 64-bit counter run through a strong mixing
/// function. Tiny, fast, statistically good enough for test data, and identical on every
/// platform, which is what the suites need (the same seed is the same bytes everywhere).
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.state)
    }

    /// Uniform in `0..n` (`n > 0`), by the multiply-high method.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent` / 100.
    pub(crate) fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        let mut chunks = out.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }
}

/// The SplitMix64 output function: a bijective 64-bit mixer with full avalanche.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Deterministic, incompressible bytes: the SplitMix64 stream for `seed`, little-endian.
///
/// The same `(len, seed)` gives the same bytes on every platform and in every release of the
/// testkit; a shorter result is a prefix of a longer one with the same seed. No codec can
/// shrink it, so it exercises a codec's worst case ([`hoard_core::frame::max_encoded_len`]).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; len];
    SplitMix64::new(seed ^ 0x6e6f_6973_6500_0000).fill(&mut out);
    out
}

/// Deterministic bytes that compress like a compiled artifact (an object file of x86-64
/// machine code), for tests and benchmarks of codecs and stores.
///
/// A SplitMix64 stream seeded from `seed` drives a toy "compiler". It first draws 256
/// *idioms*: short sequences of 2 to 8 instructions, since real compilers emit the same few
/// sequences over and over. It then emits "compilation units", each made of, in order:
/// - **code**: 4 to 12 functions, each a prologue (`push rbp`, callee-saved pushes,
///   `sub rsp, imm8`), a body of 8 to about 160 instructions (three quarters of it idioms,
///   common ones far more often than rare ones; the rest single instructions), an epilogue,
///   and `int3` padding to a 16-byte boundary. Instructions come from a weighted set of
///   common x86-64 encodings: register moves, stack loads and stores at small negative
///   offsets, ALU operations with small immediates, short conditional jumps, `xor` zeroing,
///   SSE loads, `nop`s, and `call` / `lea` with 32-bit relative displacements (to earlier
///   functions and a string pool) that differ at every site, like relocated code;
/// - **a string table**: Rust-mangled symbol names for those functions (words from a small
///   vocabulary, each with a random 16-hex-digit hash, as real mangled names carry) and, now
///   and then, a panic message, NUL-terminated;
/// - **relocations**: one 24-byte ELF `Rela` record (offset, symbol and type, addend) per
///   `call` and `lea` in the unit;
/// - **read-only data**: sometimes a jump table of small increasing offsets or a table of
///   small integers, then 16 to 512 random bytes (float constants, hashes, embedded
///   compressed data): the noise that keeps the whole from compressing too well.
///
/// Measured with zstd at level 3, 64 KiB of it shrinks about 2.6x and 256 KiB to 1 MiB about
/// 2.8x (xz: 3.1x and 3.4x), in the range of real object code; 4 KiB, too short for the idioms
/// to repeat much, about 1.7x. The output is truncated to `len` and generation does not
/// depend on `len`, so the same `(len, seed)` gives the same bytes on every platform and in
/// every release of the testkit, and `artifact(n, s)` is a prefix of `artifact(m, s)` for
/// `n <= m`.
pub fn artifact(len: usize, seed: u64) -> Vec<u8> {
    let mut g = ArtifactGen {
        rng: SplitMix64::new(seed ^ 0x6172_7469_6661_6374),
        out: Vec::with_capacity(len + 16 * 1024),
        functions: Vec::new(),
        relocs: Vec::new(),
        unit: 0,
        idioms: Vec::new(),
    };
    for _ in 0..IDIOMS {
        let idiom = (0..g.rng.range(2, 8)).map(|_| g.instruction()).collect();
        g.idioms.push(idiom);
    }
    while g.out.len() < len {
        g.unit();
    }
    g.out.truncate(len);
    g.out
}

/// Words that mangled symbol names are made of.
const WORDS: &[&str] = &[
    "hoard",
    "core",
    "frame",
    "encode",
    "decode",
    "cranelift",
    "codegen",
    "isa",
    "x64",
    "lower",
    "wasm",
    "func",
    "module",
    "alloc",
    "vec",
    "iter",
    "map",
    "next",
    "fmt",
    "write",
    "read",
    "store",
    "cache",
    "key",
    "hash",
    "state",
    "inst",
    "block",
    "value",
    "reg",
    "machinst",
    "emit",
    "buffer",
    "translate",
    "environ",
    "runtime",
    "table",
    "memory",
];

const MESSAGES: &[&str] = &[
    "called `Option::unwrap()` on a `None` value",
    "index out of bounds: the len is ",
    "attempt to add with overflow",
    "assertion failed: ",
    "internal error: entered unreachable code",
    "capacity overflow",
];

/// One instruction of a function body; calls and `lea`s get their displacement when emitted.
enum Ins {
    Bytes(Vec<u8>),
    Call,
    Lea(u8),
}

/// A REX.W prefix for a `reg` and an `rm` register.
fn rex(reg: u8, rm: u8) -> u8 {
    0x48 | ((reg >> 3) << 2) | (rm >> 3)
}

fn modrm(md: u8, reg: u8, rm: u8) -> u8 {
    (md << 6) | ((reg & 7) << 3) | (rm & 7)
}

/// How many idioms an artifact has, and how much of each function body they make up.
const IDIOMS: usize = 256;
const IDIOM_PERCENT: u64 = 75;

struct ArtifactGen {
    rng: SplitMix64,
    out: Vec<u8>,
    /// Start offsets of the functions emitted so far (call targets).
    functions: Vec<usize>,
    /// `(offset, symbol)` of the relocations of the current unit.
    relocs: Vec<(usize, u32)>,
    unit: u32,
    /// Short instruction sequences the "compiler" of this artifact keeps emitting.
    idioms: Vec<Vec<Ins>>,
}

impl ArtifactGen {
    fn unit(&mut self) {
        self.unit += 1;
        let first = self.functions.len();
        for _ in 0..self.rng.range(4, 12) {
            self.function();
        }
        self.strings(self.functions.len() - first);
        self.relocations();
        self.rodata();
    }

    fn byte(&mut self, b: u8) {
        self.out.push(b);
    }

    fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    /// A register number, skewed towards the ones compilers use most.
    fn reg(&mut self) -> u8 {
        *self
            .rng
            .pick(&[0, 0, 0, 7, 7, 6, 6, 1, 2, 3, 3, 5, 8, 12, 13, 14, 15])
    }

    /// A small immediate, mostly tiny and often a multiple of 8.
    fn imm8(&mut self) -> u8 {
        match self.rng.below(4) {
            0 => self.rng.range(1, 4) as u8,
            1 => (self.rng.range(1, 8) * 8) as u8,
            2 => self.rng.below(32) as u8,
            _ => self.rng.below(128) as u8,
        }
    }

    /// A stack slot: a negative multiple of 8 as a `disp8`.
    fn slot(&mut self) -> u8 {
        (self.rng.range(1, 16) as u8).wrapping_mul(8).wrapping_neg()
    }

    fn function(&mut self) {
        let start = self.out.len();
        self.functions.push(start);
        // Prologue.
        self.bytes(&[0x55, 0x48, 0x89, 0xe5]);
        let saved = self.rng.below(4) as usize;
        let pushes: &[&[u8]] = &[&[0x53], &[0x41, 0x54], &[0x41, 0x55], &[0x41, 0x56]];
        for push in &pushes[..saved] {
            self.bytes(push);
        }
        let frame = (self.rng.range(1, 15) * 8) as u8;
        self.bytes(&[0x48, 0x83, 0xec, frame]);
        // Body: a skewed length, most functions are short. Compilers repeat themselves:
        // most of a body is idioms (fixed instruction sequences) from a per-artifact set,
        // the most common ones far more often than the rest.
        let n = 8 + self.rng.below(40) * self.rng.range(1, 4);
        let mut done = 0;
        while done < n {
            if self.rng.percent(IDIOM_PERCENT) {
                let bound = self.rng.range(1, IDIOMS as u64);
                let rank = self.rng.below(bound);
                let idiom = std::mem::take(&mut self.idioms[rank as usize]);
                for ins in &idiom {
                    self.emit(ins);
                }
                done += idiom.len() as u64;
                self.idioms[rank as usize] = idiom;
            } else {
                let ins = self.instruction();
                self.emit(&ins);
                done += 1;
            }
        }
        // Epilogue.
        self.bytes(&[0x48, 0x83, 0xc4, frame]);
        let pops: &[&[u8]] = &[&[0x5b], &[0x41, 0x5c], &[0x41, 0x5d], &[0x41, 0x5e]];
        for pop in pops[..saved].iter().rev() {
            self.bytes(pop);
        }
        self.bytes(&[0x5d, 0xc3]);
        while !self.out.len().is_multiple_of(16) {
            self.byte(0xcc);
        }
    }

    /// A random instruction from a weighted set of common x86-64 encodings.
    fn instruction(&mut self) -> Ins {
        let mut b = Vec::with_capacity(8);
        match self.rng.below(100) {
            // mov r64, r64
            0..=17 => {
                let (x, y) = (self.reg(), self.reg());
                b.extend([rex(x, y), 0x89, modrm(3, x, y)]);
            }
            // mov r64, [rbp - disp8]
            18..=31 => {
                let (r, d) = (self.reg(), self.slot());
                b.extend([rex(r, 5), 0x8b, modrm(1, r, 5), d]);
            }
            // mov [rbp - disp8], r64
            32..=41 => {
                let (r, d) = (self.reg(), self.slot());
                b.extend([rex(r, 5), 0x89, modrm(1, r, 5), d]);
            }
            // add / sub / cmp / and r64, imm8
            42..=51 => {
                let op = *self.rng.pick(&[0u8, 5, 7, 4]);
                let (r, i) = (self.reg(), self.imm8());
                b.extend([rex(0, r), 0x83, modrm(3, op, r), i]);
            }
            52..=59 => return Ins::Call,
            60..=64 => return Ins::Lea(self.reg()),
            // jcc rel8 / jmp rel8
            65..=74 => {
                let op = if self.rng.percent(75) {
                    0x70 | *self.rng.pick(&[4u8, 5, 4, 5, 12, 13, 15, 2, 7])
                } else {
                    0xeb
                };
                b.extend([op, self.rng.range(2, 60) as u8]);
            }
            // test r64, r64
            75..=80 => {
                let r = self.reg();
                b.extend([rex(r, r), 0x85, modrm(3, r, r)]);
            }
            // xor r32, r32
            81..=84 => {
                let r = self.reg() & 7;
                b.extend([0x31, modrm(3, r, r)]);
            }
            // mov r32, imm32 with a small immediate
            85..=89 => {
                let r = self.reg() & 7;
                let imm = u32::from(self.imm8()) << (8 * self.rng.below(2));
                b.push(0xb8 + r);
                b.extend(imm.to_le_bytes());
            }
            // movsd xmm, [rbp - disp8]
            90..=93 => {
                let (x, d) = (self.rng.below(8) as u8, self.slot());
                b.extend([0xf2, 0x0f, 0x10, modrm(1, x, 5), d]);
            }
            // movzx r32, byte [r64 + disp8]
            94..=96 => {
                let (x, y, d) = (self.reg() & 7, self.reg() & 7, self.imm8());
                b.extend([0x0f, 0xb6, modrm(1, x, y), d]);
            }
            // multi-byte nop
            _ => b.extend([0x0f, 0x1f, 0x44, 0x00, 0x00]),
        }
        Ins::Bytes(b)
    }

    /// Emits an instruction; calls and `lea`s get a displacement and a relocation here.
    fn emit(&mut self, ins: &Ins) {
        let at = self.out.len();
        match ins {
            Ins::Bytes(b) => self.bytes(b),
            Ins::Call => {
                // An earlier, nearby function, or a PLT stub past the end of the code.
                let target = if self.functions.len() > 1 && self.rng.percent(80) {
                    let recent = self.functions.len().min(64) as u64;
                    let idx = self.functions.len() - 1 - self.rng.below(recent) as usize;
                    self.functions[idx] as i64
                } else {
                    (at + 0x10_0000 + self.rng.below(64) as usize * 16) as i64
                };
                let rel = (target - (at as i64 + 5)) as i32;
                self.byte(0xe8);
                self.bytes(&rel.to_le_bytes());
                let sym = self.symbol();
                self.relocs.push((at + 1, sym));
            }
            Ins::Lea(r) => {
                // Into a string pool placed after the code.
                let rel = (0x4_0000 + self.rng.below(0x800) * 8) as i32 - at as i32;
                self.bytes(&[rex(*r, 0), 0x8d, modrm(0, *r, 5)]);
                self.bytes(&rel.to_le_bytes());
                let sym = self.symbol();
                self.relocs.push((at + 3, sym));
            }
        }
    }

    /// A symbol index for a relocation, among those the artifact has defined so far.
    fn symbol(&mut self) -> u32 {
        self.rng.below(u64::from(self.unit) * 8 + 8) as u32
    }

    fn strings(&mut self, count: usize) {
        for _ in 0..count {
            self.bytes(b"_ZN");
            for _ in 0..self.rng.range(2, 5) {
                let word = *self.rng.pick(WORDS);
                self.bytes(word.len().to_string().as_bytes());
                self.bytes(word.as_bytes());
            }
            self.bytes(b"17h");
            let hash = self.rng.next_u64();
            for i in (0..16).rev() {
                self.byte(b"0123456789abcdef"[((hash >> (i * 4)) & 0xf) as usize]);
            }
            self.bytes(b"E\0");
        }
        if self.rng.percent(50) {
            let msg = *self.rng.pick(MESSAGES);
            self.bytes(msg.as_bytes());
            self.byte(0);
        }
    }

    fn relocations(&mut self) {
        for (offset, sym) in std::mem::take(&mut self.relocs) {
            self.bytes(&(offset as u64).to_le_bytes());
            let kind: u64 = if self.rng.percent(80) { 4 } else { 2 };
            self.bytes(&((u64::from(sym) << 32) | kind).to_le_bytes());
            self.bytes(&(-4i64).to_le_bytes());
        }
    }

    fn rodata(&mut self) {
        // A jump table: small increasing 32-bit offsets.
        if self.rng.percent(60) {
            let mut at = self.rng.below(0x1000) as u32;
            for _ in 0..self.rng.range(4, 32) {
                at += self.rng.range(4, 64) as u32;
                self.bytes(&at.to_le_bytes());
            }
        }
        // A table of small integers.
        if self.rng.percent(40) {
            for _ in 0..self.rng.range(8, 64) {
                let v = self.rng.below(16) as u16;
                self.bytes(&v.to_le_bytes());
            }
        }
        // Incompressible constants: floats, hashes, embedded compressed data.
        let mut noise = vec![0u8; self.rng.range(16, 512) as usize];
        self.rng.fill(&mut noise);
        self.bytes(&noise);
        while !self.out.len().is_multiple_of(8) {
            self.byte(0);
        }
    }
}
