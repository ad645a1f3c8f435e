#!/usr/bin/env python3
"""gen-rand-vectors.py OUT_FILE - test vectors for service/pyrandom.c, made by this Python.

The C unit test (tests/unit/test_pyrandom.c, case "vectors") reads OUT_FILE from the
environment variable SUB_TEST_RAND_VECTORS and checks every line bit for bit, so the C
code is compared with whatever CPython runs this script, not with values copied by hand.
Standard library only.

Format: one vector per line, fields separated by one tab, the tag first. Strings are
hex-encoded UTF-8 (they may hold tabs, newlines, NUL). Lists are comma-separated. Floats
are float.hex(), which is exact. A SEED field is "int:<decimal>" for Random(int) or
"str:<hex>" for Random(str) (the same as Random(bytes) of its UTF-8).

  rand        HEXPATH  FLOATHEX            FiftyOne _rand: Random(p).random()*0.001+0.999
  uint32      SEED     V,V,...             getrandbits(32) repeated
  random      SEED     FLOATHEX,...        random() repeated
  getrandbits SEED     V1,...,V64          getrandbits(k) for k = 1, 2, ..., 64 in turn
  randbelow   SEED     N  V,V,...          _randbelow(N) repeated
  randint     SEED     A  B  V,V,...       randint(A, B) repeated
  randrange   SEED     A  B  V,V,...       randrange(A, B) repeated
  shuffle     SEED     N  P0,P1,...        x = list(range(N)); shuffle(x); x
  sample      SEED     N  K  V,V,...       sample(range(N), K)
  take        SEED     V                   Random(seed).randint(int(1e7), int(1e10))
  end         COUNT                        the number of lines before it (truncation check)

Each line starts from a freshly seeded generator.
"""
import math
import random
import sys
from fractions import Fraction


def hexs(s):
    return s.encode("utf-8").hex()


def seed_field(seed):
    if isinstance(seed, int):
        return "int:%d" % seed
    return "str:" + hexs(seed)


def ints(values):
    return ",".join(str(v) for v in values)


def fiftyone_rand(path):
    # fiftyone/core/odm/sample.py _generate_rand()
    r = random.Random()
    r.seed(path)
    return r.random() * 0.001 + 0.999


def fma_sensitive_paths(count):
    """Paths whose _rand changes if r * 0.001 + 0.999 is fused into one FMA (rounded once
    instead of twice): about 1 path in 2000, too rare to rely on the others to catch a
    build without -ffp-contract=off. float(Fraction) is correctly rounded, so it gives the
    fused result exactly."""
    out, i = [], 0
    while len(out) < count:
        p = "/fma/%d.jpg" % i
        i += 1
        r = random.Random(p).random()
        if float(Fraction(r) * Fraction(0.001) + Fraction(0.999)) != r * 0.001 + 0.999:
            out.append(p)
    return out


def paths():
    """Several hundred file paths: ASCII, accents, CJK, emoji, odd bytes, very long ones."""
    out = [
        "",
        "x",
        "/",
        "/home/user/fiftyone/open-images-v7/train/data/0001eeaf4aed83f9.jpg",
        "/tmp/\u00e4/\u00df.jpg",
        "C:\\Users\\Jos\u00e9\\Pictures\\caf\u00e9.png",
        "/data/\u65e5\u672c\u8a9e/\u5199\u771f/\u753b\u50cf01.jpg",
        "/data/\ud55c\uad6d\uc5b4/\uc0ac\uc9c4.jpeg",
        "/photos/\U0001f600\U0001f389/\U0001f431.png",
        "/mixed/na\u00efve r\u00e9sum\u00e9 \u2013 \u03a9\u2248\u00e7/\u0416\u0437.jpg",
        "with\ttab/and\nnewline.jpg",
        "/trailing space /x.jpg ",
        "\x00",
        "\x00\x00\x00\x00\x00leading-nuls.jpg",
        "\x00" * 70,
        "\x7f\x01\x02control.jpg",
        "s3://bucket/prefix/image.jpg",
        "gs://bucket/a b/c%20d.png",
    ]
    # Lengths around the key size where init_by_array() switches from cycling the key to
    # using each word once: keyused = ceil((len + 64) / 4) crosses 624 at len = 2432.
    for n in list(range(2424, 2442)) + [1, 2, 3, 4, 5, 60, 61, 62, 63, 64, 65, 4095, 4096,
                                        4097, 5000, 8192, 10000, 20000]:
        out.append(("/long/" + "abcdefghij" * (n // 10 + 1))[:n])
    # Non-ASCII long paths: multi-byte characters straddle the stack-buffer and chunk edges.
    out.append("/long/" + "\u00e9" * 2300)
    out.append("/long/" + "\u6f22\u5b57" * 900)
    out.append("/long/" + "\U0001f600" * 1300)
    out.extend(fma_sensitive_paths(8))
    gen = random.Random(20240601)
    alphabet = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-. "
                "\u00e0\u00e9\u00ee\u00f5\u00fc\u00df\u00f1\u4e2d\u6587\u30ab\u30ca"
                "\U0001f680\U0001f30d")
    splits = ["train", "validation", "test"]
    for i in range(400):
        if i % 4 == 0:
            name = "".join(gen.choice("0123456789abcdef") for _ in range(16))
            out.append("/home/user/fiftyone/open-images-v7/%s/data/%s.jpg"
                       % (gen.choice(splits), name))
        else:
            parts = ["".join(gen.choice(alphabet) for _ in range(gen.randint(1, 24)))
                     for _ in range(gen.randint(1, 8))]
            out.append("/" + "/".join(parts) + gen.choice([".jpg", ".png", ".jpeg", ""]))
    return out


INT_SEEDS = [0, 1, 2, 3, 42, 2**31, 2**32 - 1, 2**32, 2**32 + 5, 2**63 - 1, -7, -1,
             -(2**63), 2**63, 2**64 - 1, 1234567890123]
STR_SEEDS = ["", "a", "seed", "fiftyone", "\u00e4\u00f6\u00fc", "\U0001f600", "x" * 3000]


def check_sample_setsize():
    """pyrandom.c decides sample()'s algorithm with the exact exponent (the smallest c with
    4**c > 3k) where Python uses ceil(log(k * 3, 4)) in floating point. Check that they
    agree around every power of 4 below the limit stated in pyrandom.c."""
    for m in range(2, 25):
        b = (4**m - 1) // 3
        for k in range(max(6, b - 3000), b + 3000):
            exact = ((3 * k).bit_length() + 1) // 2  # smallest c with 4**c > 3k
            if math.ceil(math.log(k * 3, 4)) != exact:
                sys.exit("gen-rand-vectors: sample() setsize differs at k=%d; "
                         "see sample_uses_pool in service/pyrandom.c" % k)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen-rand-vectors.py OUT_FILE")
    check_sample_setsize()
    lines = []
    for p in paths():
        lines.append("rand\t%s\t%s" % (hexs(p), fiftyone_rand(p).hex()))

    for seed in INT_SEEDS + STR_SEEDS:
        sf = seed_field(seed)
        r = random.Random(seed)
        # 1300 outputs cross two twists of the 624-word state.
        count = 1300 if seed in (0, 42, "seed") else 20
        lines.append("uint32\t%s\t%s" % (sf, ints(r.getrandbits(32) for _ in range(count))))
        r = random.Random(seed)
        lines.append("random\t%s\t%s" % (sf, ",".join(r.random().hex() for _ in range(20))))
        r = random.Random(seed)
        lines.append("getrandbits\t%s\t%s" % (sf, ints(r.getrandbits(k) for k in range(1, 65))))
        for n in [1, 2, 3, 7, 10, 100, 1000, 2**31, 2**32 - 1, 2**32, 2**32 + 1,
                  9990000001, 2**53 + 3, 2**63, 2**63 + 1, 2**64 - 1]:
            r = random.Random(seed)
            lines.append("randbelow\t%s\t%d\t%s"
                         % (sf, n, ints(r._randbelow(n) for _ in range(12))))
        for a, b in [(10**7, 10**10), (0, 0), (-5, 5), (1, 6), (-(2**63), 2**63 - 1),
                     (-(2**63), -(2**63) + 1), (2**62, 2**63 - 1), (-(2**40), 2**40)]:
            r = random.Random(seed)
            lines.append("randint\t%s\t%d\t%d\t%s"
                         % (sf, a, b, ints(r.randint(a, b) for _ in range(12))))
        for a, b in [(0, 10), (-100, 100), (5, 6), (-(2**63), 2**63 - 1)]:
            r = random.Random(seed)
            lines.append("randrange\t%s\t%d\t%d\t%s"
                         % (sf, a, b, ints(r.randrange(a, b) for _ in range(12))))
        for n in [0, 1, 2, 3, 10, 52, 1000, 5000]:
            r = random.Random(seed)
            x = list(range(n))
            r.shuffle(x)
            lines.append("shuffle\t%s\t%d\t%s" % (sf, n, ints(x)))
        # Both algorithms and the edges between them: setsize is 21 for k <= 5, then
        # 21 + 4**ceil(log4(3k)), e.g. k=6 -> 85, k=22 -> 85, k=100 -> 1045.
        for n, k in [(0, 0), (1, 1), (5, 0), (21, 5), (22, 5), (1000, 5), (85, 6), (86, 6),
                     (85, 21), (86, 22), (85, 22), (1045, 100), (1046, 100), (10**6, 100),
                     (10**9, 1000), (300, 300), (5000, 2500), (2**40, 50)]:
            r = random.Random(seed)
            lines.append("sample\t%s\t%d\t%d\t%s" % (sf, n, k, ints(r.sample(range(n), k))))
        if isinstance(seed, str) or -(2**63) <= seed < 2**63:
            r = random.Random(seed)
            lines.append("take\t%s\t%d" % (sf, r.randint(int(1e7), int(1e10))))

    lines.append("end\t%d" % len(lines))
    with open(sys.argv[1], "w", encoding="ascii", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
