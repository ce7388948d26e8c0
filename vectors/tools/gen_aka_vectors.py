#!/usr/bin/env python3
"""Generate vectors/aka-generated.yaml: AUTS and GBA_U MAC*/AUTN* for Milenage test sets 1-6.

An implementation independent of the Rust code: Milenage written again from TS 35.206 §4.1 in
Python over the `cryptography` package's AES. Before writing anything it checks itself against
every value of milenage-ts35208.yaml and against the auts and autn_gba_u of gba-u-chain.yaml
(which two other implementations produced), and refuses to write on any mismatch.
Run: python3 vectors/tools/gen_aka_vectors.py  (needs: pip install cryptography pyyaml)
"""
import hashlib
import pathlib
import sys

import yaml
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

HERE = pathlib.Path(__file__).resolve().parent.parent


def aes(k, block):
    enc = Cipher(algorithms.AES(k), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def rot(x, r_bits):
    n = int.from_bytes(x, "big")
    n = ((n << r_bits) | (n >> (128 - r_bits))) & ((1 << 128) - 1) if r_bits else n
    return n.to_bytes(16, "big")


R = [64, 0, 32, 64, 96]
C = [i.to_bytes(16, "big") for i in (0, 1, 2, 4, 8)]


def milenage(k, opc, rand, sqn, amf):
    temp = aes(k, xor(rand, opc))
    in1 = sqn + amf + sqn + amf
    out1 = xor(aes(k, xor(xor(temp, rot(xor(in1, opc), R[0])), C[0])), opc)
    outs = [xor(aes(k, xor(rot(xor(temp, opc), R[i]), C[i])), opc) for i in range(1, 5)]
    return {
        "f1": out1[:8], "f1_star": out1[8:], "f2": outs[0][8:], "f3": outs[1], "f4": outs[2],
        "f5": outs[0][:6], "f5_star": outs[3][:6],
    }


def auts(k, opc, rand, sqn_ms):
    o = milenage(k, opc, rand, sqn_ms, b"\x00\x00")
    return xor(sqn_ms, o["f5_star"]) + o["f1_star"]


def autn_star(k, opc, rand, sqn, amf):
    o = milenage(k, opc, rand, sqn, amf)
    mask = hashlib.sha1(o["f4"]).digest()[:8]
    return xor(sqn, o["f5"]) + amf + xor(o["f1"], mask), xor(sqn, o["f5"]) + amf + o["f1"]


def h(s):
    return bytes.fromhex(s)


def main():
    sets = yaml.safe_load((HERE / "milenage-ts35208.yaml").read_text())["sets"]
    for s in sets:
        got = milenage(h(s["k"]), h(s["opc"]), h(s["rand"]), h(s["sqn"]), h(s["amf"]))
        for field, value in got.items():
            if value.hex() != s[field]:
                sys.exit(f"self-check failed: set {s['set']} {field}")
    chain = yaml.safe_load((HERE / "gba-u-chain.yaml").read_text())
    k, opc, rand = h(chain["k"]), h(chain["opc"]), h(chain["rand"])
    if auts(k, opc, rand, h(chain["resync_sqn_ms"])).hex() != chain["auts"]:
        sys.exit("self-check failed: chain auts")
    if autn_star(k, opc, rand, h(chain["sqn"]), h(chain["amf"]))[0].hex() != chain["autn_gba_u"]:
        sys.exit("self-check failed: chain autn_gba_u")

    out = []
    for s in sets:
        k, opc, rand, sqn, amf = h(s["k"]), h(s["opc"]), h(s["rand"]), h(s["sqn"]), h(s["amf"])
        star, plain = autn_star(k, opc, rand, sqn, amf)
        # A second SQN_MS: the set's SQN advanced by one IND cycle (32) to vary the input.
        sqn_ms_2 = ((int.from_bytes(sqn, "big") + 32) % (1 << 48)).to_bytes(6, "big")
        out.append({
            "set": s["set"], "k": s["k"], "opc": s["opc"], "rand": s["rand"], "sqn": s["sqn"],
            "amf": s["amf"], "autn": plain.hex(), "autn_gba_u": star.hex(),
            "mac_star": star[8:].hex(),
            "resync": [
                {"sqn_ms": s["sqn"], "auts": auts(k, opc, rand, sqn).hex()},
                {"sqn_ms": sqn_ms_2.hex(), "auts": auts(k, opc, rand, sqn_ms_2).hex()},
            ],
        })
    header = (
        "# Generated AUTS and GBA_U MAC*/AUTN* vectors on Milenage test sets 1-6 (TS 35.208 §4.3 inputs).\n"
        "# Produced by vectors/tools/gen_aka_vectors.py, an independent Python implementation that first\n"
        "# reproduces every TS 35.208 value and the auts/autn_gba_u of gba-u-chain.yaml (itself\n"
        "# cross-checked by two implementations); gbau's Rust code is then tested against this file.\n"
        "# AUTS = (SQN_MS xor AK*) || MAC-S with AMF* = 0000 (TS 33.102 §6.3.3).\n"
        "# MAC* = MAC-A xor first 64 bits of SHA-1(IK) (TS 33.220 §5.3.2, formula [to confirm]).\n"
        "# Hex strings are always quoted.\n"
    )

    class Quoted(str):
        pass

    def quote(v):
        if isinstance(v, dict):
            return {k: quote(x) for k, x in v.items()}
        if isinstance(v, list):
            return [quote(x) for x in v]
        return Quoted(v) if isinstance(v, str) else v

    yaml.add_representer(Quoted, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style='"'))
    body = yaml.dump({"sets": quote(out)}, sort_keys=False, width=120)
    (HERE / "aka-generated.yaml").write_text(header + body)
    print("wrote vectors/aka-generated.yaml")


if __name__ == "__main__":
    main()
