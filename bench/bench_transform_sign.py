"""Transform + sign per second for the example, against a bare signxml sign of the same XML.

Run from the checkout: ``python bench/bench_transform_sign.py [--seconds 3] [--json out.json]``.
Each row is measured in the same run; the ratio column is (transform + sign) / (bare signxml sign),
so it says how much the adapter's own work (mapping, assessment, XSD validation, key checks)
costs on top of the signature that any implementation must compute.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lxml import etree  # noqa: E402
from signxml import DigestAlgorithm, XMLSigner  # noqa: E402

from adapter.outbound import render_municipal_xml  # noqa: E402
from adapter.signing import init_dev_keys, load_certificates, load_key, sign_document, verify_document  # noqa: E402
from adapter.signing.keys import pem  # noqa: E402
from adapter.signing.xmldsig import EXC_C14N, SIGNING_ALGORITHMS  # noqa: E402

EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds`` (after a short warm-up)."""
    for _ in range(3):
        fn()
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        n += 1
    return n / elapsed


def paired(a: Callable[[], object], b: Callable[[], object], seconds: float) -> tuple[float, float]:
    """Rates of ``a`` and ``b`` measured in alternating short batches, so that a change in machine
    load during the run affects both alike (the ratio stays meaningful on a busy machine)."""
    for fn in (a, b):
        for _ in range(3):
            fn()
    counts, times = [0, 0], [0.0, 0.0]
    deadline = time.perf_counter() + 2 * seconds
    while time.perf_counter() < deadline:
        for i, fn in enumerate((a, b)):
            start = time.perf_counter()
            for _ in range(5):
                fn()
            times[i] += time.perf_counter() - start
            counts[i] += 5
    return counts[0] / times[0], counts[1] / times[1]


def measure(seconds: float) -> list[dict[str, Any]]:
    bundle = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    xml = render_municipal_xml(bundle)
    rows: list[dict[str, Any]] = [{"case": "transform only (Bundle -> XSD-valid XML)",
                                   "per_second": rate(lambda: render_municipal_xml(bundle), seconds)}]
    with tempfile.TemporaryDirectory() as tmp:
        for kind, algorithm in (("rsa", "rsa-sha256"), ("ecdsa", "ecdsa-sha256")):
            paths = init_dev_keys(Path(tmp) / kind, algorithm=kind)
            key, chain, trust = load_key(paths.key), load_certificates(paths.cert), load_certificates(paths.ca)
            pems = [pem(c).decode() for c in chain]
            signer = XMLSigner(signature_algorithm=SIGNING_ALGORITHMS[algorithm],
                               digest_algorithm=DigestAlgorithm.SHA256, c14n_algorithm=EXC_C14N)

            def bare() -> bytes:
                return etree.tostring(signer.sign(etree.fromstring(xml), key=key, cert=pems))

            def ours() -> bytes:
                return sign_document(render_municipal_xml(bundle), key=key, cert_chain=chain, algorithm=algorithm)

            baseline, combined = paired(bare, ours, seconds)
            signed = ours()
            rows.append({"case": f"bare signxml sign, {algorithm} (baseline)", "per_second": baseline})
            rows.append({"case": f"transform + sign, {algorithm}", "per_second": combined,
                         "ratio_to_bare_sign": combined / baseline})
            rows.append({"case": f"verify (trust store, checks), {algorithm}",
                         "per_second": rate(lambda: verify_document(signed, trust=trust), seconds)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per row")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    rows = measure(args.seconds)
    print(f"{'case':<52} {'per second':>11} {'ratio':>7}")
    for row in rows:
        ratio = f"{row['ratio_to_bare_sign']:.2f}" if "ratio_to_bare_sign" in row else ""
        print(f"{row['case']:<52} {row['per_second']:>11.1f} {ratio:>7}")
    result = {"benchmark": "transform_sign", "python": platform.python_version(),
              "machine": platform.machine(), "seconds_per_row": args.seconds, "rows": rows}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
