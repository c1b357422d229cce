#!/usr/bin/env python3
"""Summarise bench/corruptions_fmnist's runs (one directory) as a markdown table.

Per recipe, over its seeds (mean ± sample standard deviation): clean accuracy; mean accuracy
over the test corruptions (every corruption but the four held-out extras, each the mean of
its five severities); per family; the leave-family-out number -- the mean over the test
corruptions of the families the recipe's training does not touch (from the checkpoint's
"recipe" metadata) -- beside plain training's (erm, same seed) on the same corruptions and the
paired difference; mCE against erm of the same seed (100 = erm); the worst case at the run's eps;
expected calibration error (when eval reports it); training time relative to erm.
In the select phase the corruptions are the held-out extras on the validation split.
"""
import json
import pathlib
import statistics
import struct
import sys

FAMILIES = ["noise", "blur", "weather", "digital", "geometric", "occlusion"]
EXTRAS = {"speckle_noise", "gaussian_blur", "spatter", "saturate"}


def rows(path):
    return [json.loads(l) for l in path.read_text().splitlines() if l.startswith("{")] if path.exists() else []


def recipe_meta(ckpt):
    with open(ckpt, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(json.loads(f.read(n))["__metadata__"].get("recipe", "{}"))


def load(out, name):
    # the file also holds the reference model's rows (erm, for CE): keep this model's
    ev = [r for r in rows(out / f"{name}.eval.jsonl") if r.get("model", "").endswith(f"/{name}.safetensors")]
    acc, fam, ece = {}, {}, {}
    clean = None
    for r in ev:
        if r.get("condition") == "clean":
            clean = r["accuracy"]
            ece["clean"] = r.get("ece")
        if r.get("condition") == "corruption" and r.get("applicable", True):
            acc.setdefault(r["corruption"], []).append(r["accuracy"])
            fam[r["corruption"]] = r["family"]
            if r.get("ece") is not None:
                ece.setdefault("corrupted", []).append(r["ece"])
    worst_row = next((r for r in rows(out / f"{name}.attack.jsonl") if r.get("condition") == "worst"), {})
    worst, eps = worst_row.get("accuracy"), worst_row.get("eps")
    t = rows(out / f"{name}.time.json")
    meta = recipe_meta(out / f"{name}.safetensors")
    unseen = set(filter(None, meta.get("unseen", "").split(",")))
    return {"clean": clean, "acc": {c: statistics.mean(v) for c, v in acc.items()},
            "err": {c: sum(1 - a for a in v) for c, v in acc.items()}, "family": fam, "unseen": unseen,
            "touches": meta.get("touches", ""), "worst": worst, "eps": eps,
            "ece_clean": ece.get("clean"),
            "ece_corr": statistics.mean(ece["corrupted"]) if ece.get("corrupted") else None,
            "seconds": t[0]["train_seconds"] if t else None}


def fmt(vals, scale=100.0, digits=1):
    vals = [v * scale for v in vals if v is not None]
    if not vals:
        return "–"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.mean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"


def main():
    out = pathlib.Path(sys.argv[1])
    select = out.name == "select"
    runs = {}
    for p in sorted(out.glob("*.eval.jsonl")):
        name = p.name[: -len(".eval.jsonl")]
        recipe, seed = name.rsplit("-s", 1)
        runs.setdefault(recipe, {})[int(seed)] = load(out, name)
    if "erm" not in runs:
        sys.exit("no erm runs: the table is relative to plain training")
    order = [r for r in ["erm"] + sorted(runs) if r in runs]
    order = list(dict.fromkeys(order))
    test = (lambda c: c in EXTRAS) if select else (lambda c: c not in EXTRAS)
    head = ["recipe", "seeds", "trains on", "clean", "corruptions" if not select else "extras",
            "unseen (leave-family-out)", "erm, same set", "Δ unseen"]
    if not select:
        eps = sorted({f"{s['eps']:g}" for r in runs.values() for s in r.values() if s["eps"] is not None})
        head += FAMILIES + ["mCE", f"worst ε={'/'.join(eps) or '?'}", "ECE clean", "ECE corr.", "train time"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for rec in order:
        seeds = sorted(runs[rec])
        cells = {k: [] for k in ["clean", "all", "unseen", "erm_unseen", "delta", "mce", "worst", "ece_c", "ece_k", "time"]}
        fam = {f: [] for f in FAMILIES}
        touches = ""
        for s in seeds:
            r, e = runs[rec][s], runs["erm"].get(s)
            touches = r["touches"] or "none"
            cs = [c for c in r["acc"] if test(c)]
            cells["clean"].append(r["clean"])
            cells["all"].append(statistics.mean(r["acc"][c] for c in cs) if cs else None)
            un = [c for c in cs if r["family"][c] in r["unseen"]]
            if un and e:
                u, eu = statistics.mean(r["acc"][c] for c in un), statistics.mean(e["acc"][c] for c in un)
                cells["unseen"].append(u), cells["erm_unseen"].append(eu), cells["delta"].append(u - eu)
            for f in FAMILIES:
                fc = [c for c in cs if r["family"][c] == f]
                if fc:
                    fam[f].append(statistics.mean(r["acc"][c] for c in fc))
            if e and cs:
                cells["mce"].append(statistics.mean(r["err"][c] / e["err"][c] for c in cs if e["err"].get(c)))
            cells["worst"].append(r["worst"])
            cells["ece_c"].append(r["ece_clean"]), cells["ece_k"].append(r["ece_corr"])
            if r["seconds"] and e and e["seconds"]:
                cells["time"].append(r["seconds"] / e["seconds"])
        row = [rec, str(len(seeds)), touches, fmt(cells["clean"]), fmt(cells["all"]), fmt(cells["unseen"]),
               fmt(cells["erm_unseen"]), fmt(cells["delta"])]
        if not select:
            row += [fmt(fam[f]) + ("*" if f in touches.split(",") else "") for f in FAMILIES]
            row += [fmt(cells["mce"]), fmt(cells["worst"]), fmt(cells["ece_c"]), fmt(cells["ece_k"]),
                    fmt(cells["time"], scale=1.0, digits=2) + "×" if cells["time"] else "–"]
        print("| " + " | ".join(row) + " |")
    print()
    print("Accuracy and ECE in %, mean ± standard deviation over the seeds; * marks a family the recipe trains on.")


if __name__ == "__main__":
    main()
