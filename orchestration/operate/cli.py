"""`dtsen` command line: synth, run, status, demo, prepare-dbt, train-linkage, match, serve, api token, audit, web, web-user,
web-export. Imports are made inside the commands, so that `dtsen --help` and the light commands start fast."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from dtsen.layout import DataLayout


def _layout(args: argparse.Namespace) -> DataLayout:
    """The data root of a command (`--data`, else $DTSEN_DATA, else data), with its warehouse moved by `--warehouse`
    where the command has one."""
    return DataLayout.resolve(getattr(args, "data", None), warehouse=getattr(args, "warehouse", None))


def _cmd_synth(args: argparse.Namespace) -> int:
    from dtsen.synth import SynthConfig, synth

    if args.rekon:
        from dtsen.synth.rekon import simulate_reconciliation

        disbursement = args.disbursement or _layout(args).disbursement
        written = simulate_reconciliation(disbursement, args.out, args.rekon, args.seed)
        if not written:
            print(f"no bank or PT Pos lists for {args.rekon} under {os.path.abspath(disbursement)}", file=sys.stderr)
            return 1
        for name, n in written.items():
            print(f"wrote {os.path.join(os.path.abspath(args.out), 'rekon', args.rekon, name)} ({n:,} status rows)")
        return 0
    cfg = SynthConfig(
        persons=args.persons, seed=args.seed, months=args.months, start=args.start, noise_scale=args.noise_scale
    )
    t0 = time.perf_counter()
    res = synth(cfg, args.out)
    secs = time.perf_counter() - t0
    print(
        f"wrote synthetic landing folder {os.path.abspath(args.out)} in {secs:.1f} s "
        f"({res.counts['persons']:,} persons, {res.counts['families']:,} families, "
        f"{res.counts['records']:,} registry person records; deliveries {', '.join(res.months)})"
    )
    if args.json:
        print(json.dumps(res.counts))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from orchestration.operate.runner import run_month

    return run_month(
        landing=args.landing, month=args.month, data=args.data, warehouse=args.warehouse, engine=args.engine
    )


def _cmd_status(args: argparse.Namespace) -> int:
    if not os.environ.get("DAGSTER_HOME"):
        print(
            "dtsen status reads the Dagster instance: set DAGSTER_HOME (`make status` uses the repository's "
            ".dagster_home, as `make run` and `make ui` do)",
            file=sys.stderr,
        )
        return 2
    from orchestration.operate.status import status

    print(status(_layout(args), as_json=args.json))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from orchestration.operate.runner import demo

    return demo(persons=args.persons, seed=args.seed, months=args.months, data=args.data)


def _cmd_prepare_dbt(args: argparse.Namespace) -> int:
    from orchestration.lib.dbt import prepare_dbt
    from orchestration.lib.resources import DataResource

    data = DataResource(root=args.data or "", warehouse=args.warehouse or "")
    print(f"dbt project parsed for {data.layout.warehouse} (saved in {prepare_dbt(data)})")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from dtsen.linkage import model as lm
    from dtsen.linkage.train import retrain

    res = retrain(persons=args.persons, seed=args.seed, out=args.out or lm.MODEL_PATH)
    print(json.dumps(res))
    return 0


def _cmd_match(args: argparse.Namespace) -> int:
    from dtsen.linkage.match import match_file

    res = match_file(args.input, args.out, warehouse=_layout(args).warehouse, month=args.month)
    print(json.dumps(res))
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from dtsen import credentials, privacy
    from dtsen.api import config, exchange
    from dtsen.api.server import create_app

    # every secret the server needs, each refusal named at once (the audit log keeps pseudonyms of what was asked)
    cfg, notes = credentials.all_of(
        lambda: config.load(args.config), lambda: credentials.require(privacy.PSEUDONYM_KEY)
    )
    layout = _layout(args)
    folder = layout.exchange
    latest = exchange.latest(folder)
    print(
        f"DTSEN data exchange (DCI Social Registry API v1.0.0) on http://{args.host}:{args.port}\n"
        f"  serving:   {folder} ({'snapshot ' + latest if latest else 'no snapshot yet: run the pipeline'})\n"
        f"  state:     {layout.api_state} (audit log, transactions, subscriptions)\n"
        f"  clients:   {cfg.source}",
        flush=True,
    )
    for line in [credentials.DEMO_NOTICE, *notes] if credentials.demo_mode() else []:
        print(f"  WARNING:   {line}", flush=True)
    app = create_app(cfg, folder, layout.api_state)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0


def _cmd_web(args: argparse.Namespace) -> int:
    import uvicorn

    from dtsen import credentials
    from dtsen.web import config
    from dtsen.web.app import create_app

    cfg = config.load(_layout(args))
    app = create_app(cfg)
    print(
        f"Cek Bansos and the caseworker desk on http://{args.host}:{args.port}\n"
        f"  reading:   {cfg.exchange_dir} and {cfg.published_dir} (never the warehouse)\n"
        f"  store:     {cfg.db_url.split('@')[-1]} (cases, users, audit log)\n"
        f"  users:     `dtsen web-user --username ... --role caseworker|supervisor|admin --regency NNNN`",
        flush=True,
    )
    if credentials.demo_mode():
        print(f"  WARNING:   {credentials.DEMO_NOTICE}", flush=True)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        proxy_headers=args.behind_proxy,
        forwarded_allow_ips="*" if args.behind_proxy else None,
    )
    return 0


def _cmd_web_user(args: argparse.Namespace) -> int:
    import getpass

    from dtsen.web import config
    from dtsen.web.store import CaseError, Store

    password = os.environ.get(args.password_env, "") if args.password_env else getpass.getpass("password: ")
    store = Store.open(config.database_url(_layout(args)))
    try:
        uid = store.add_user(args.username, password, args.role, args.name or args.username, args.regency)
    except CaseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(json.dumps({"user_id": uid, "username": args.username, "role": args.role, "regency": args.regency}))
    return 0


def _cmd_web_export(args: argparse.Namespace) -> int:
    from dtsen.web import config
    from dtsen.web.export import export_month
    from dtsen.web.store import Store

    layout = _layout(args)
    store = Store.open(config.database_url(layout))
    try:
        print(json.dumps({"month": args.month, **export_month(store, args.landing or layout.landing, args.month)}))
    finally:
        store.close()
    return 0


def _cmd_api_token(args: argparse.Namespace) -> int:
    from dtsen.api import config
    from dtsen.api.tokens import TokenError, TokenIssuer

    cfg = config.load(args.config)
    client = cfg.clients.get(args.client)
    if client is None:
        print(f"no client {args.client!r} in {cfg.source} (configured: {sorted(cfg.clients)})", file=sys.stderr)
        return 2
    try:
        token, ttl = TokenIssuer(cfg).issue(client, args.scope, ttl=args.ttl)
    except TokenError as e:
        print(e.message, file=sys.stderr)
        return 2
    for line in config.warn(cfg):
        print(f"WARNING: {line}", file=sys.stderr)
    print(token)
    return 0


def _desk_views(layout: DataLayout, ids: list[str]) -> list[dict]:
    """The caseworker desk's audited views of these persons' families and cases (its own store, when there is one)."""
    import duckdb

    from dtsen.api import exchange
    from dtsen.web.store import Store as DeskStore

    url = layout.web_db
    if url.startswith("sqlite:///") and not os.path.exists(url[len("sqlite:///") :]):
        return []
    objects = set(ids)
    folder = layout.exchange
    people = [os.path.join(folder, snap, "person.parquet") for snap in exchange.snapshots(folder)]
    if people:  # the families these persons belonged to in any month (one read over every month's file)
        objects |= {
            r[0]
            for r in duckdb.execute(
                "SELECT DISTINCT family_id FROM read_parquet(?, union_by_name = true) "
                "WHERE person_id IN (SELECT unnest(?))",
                [people, sorted(ids)],
            ).fetchall()
        }
    store = DeskStore.open(url)
    try:
        objects |= {c["ticket"] for c in store.cases_of(sorted(ids), [])}
        return [{"channel": "desk", **r} for r in store.audit_for(sorted(objects))]
    finally:
        store.close()


def _cmd_audit(args: argparse.Namespace) -> int:
    from dtsen import privacy
    from dtsen.api import exchange
    from dtsen.api.store import Store

    layout = _layout(args)
    path = layout.api_state
    if not os.path.exists(path):
        if args.id or args.nik:  # the desk may still have looked
            ids = [args.id] if args.id else []
            desk = _desk_views(layout, ids) if ids else []
            print(f"no API audit log at {path}; {len(desk)} view(s) at the caseworker desk")
            for r in desk:
                print(json.dumps(r, default=str))
            return 0 if desk else 1
        print(f"no audit log at {path}: the API has not served a request yet", file=sys.stderr)
        return 1
    store = Store(path)
    try:
        ids = [args.id] if args.id else []
        if args.nik:
            import duckdb

            folder = layout.exchange
            for snap in exchange.snapshots(folder):
                ids += [
                    r[0]
                    for r in duckdb.execute(
                        "SELECT DISTINCT person_id FROM read_parquet(?) WHERE nik = ?",
                        [os.path.join(folder, snap, "person.parquet"), args.nik],
                    ).fetchall()
                ]
            ids = sorted(set(ids))
        if args.id or args.nik:
            rows = [r for i in ids for r in store.who_looked_at(i)]
            if args.nik:  # searches for this NIK, found or not (the log keeps its pseudonym only)
                seen = {r["seq"] for r in rows}
                rows += [r for r in store.audit_mentioning(privacy.pseudonymise(args.nik)) if r["seq"] not in seen]
            rows.sort(key=lambda r: r["seq"])
            who = args.id or f"NIK {args.nik[:4]}********{args.nik[-4:]} ({', '.join(ids) or 'not in DTSEN'})"
            print(f"{len(rows)} request(s) touched {who}")
            desk = _desk_views(layout, ids)
            if desk:
                print(f"{len(desk)} view(s) at the caseworker desk")
                rows += desk
        else:
            rows = list(reversed(store.audit_rows(args.client, args.limit)))
        for r in rows:
            print(json.dumps(r, default=str))
    finally:
        store.close()
    return 0


def _data_arg(parser: argparse.ArgumentParser, warehouse: bool = False) -> None:
    parser.add_argument("--data", default=None, help="data root (default: $DTSEN_DATA, else data)")
    if warehouse:
        parser.add_argument(
            "--warehouse",
            default=None,
            help="DuckDB file (default: $DTSEN_WAREHOUSE, else <data root>/warehouse.duckdb)",
        )


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.filterwarnings("ignore", message=".*is currently in beta.*")  # Dagster's notes for developers
    ap = argparse.ArgumentParser(prog="dtsen", description="DTSEN data platform command line")
    sub = ap.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("synth", help="write a synthetic landing folder (registries, lists, ground truth)")
    s.add_argument("--persons", type=int, default=20_000)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--months", type=int, default=1, help="monthly deliveries of DTKS and the administrative lists")
    s.add_argument("--start", default="2025-01", help="first delivery month YYYY-MM")
    s.add_argument("--noise-scale", type=float, default=1.0, help="multiplies every noise rate")
    s.add_argument("--out", required=True)
    s.add_argument("--json", action="store_true", help="also print the counts as JSON")
    s.add_argument(
        "--rekon",
        metavar="YYYY-MM",
        default=None,
        help="instead: simulate the banks' and PT Pos' reconciliation files for this period's payment "
        "lists (written to <out>/rekon/<YYYY-MM>/)",
    )
    s.add_argument(
        "--disbursement", default=None, help="payment files folder read by --rekon (default: <data root>/disbursement)"
    )
    _data_arg(s)
    s.set_defaults(func=_cmd_synth)

    r = sub.add_parser("run", help="materialise the asset graph for one delivery month through Dagster")
    r.add_argument("--landing", required=True)
    r.add_argument("--month", required=True, help="delivery month YYYY-MM")
    _data_arg(r, warehouse=True)
    r.add_argument(
        "--engine",
        choices=["duckdb", "spark"],
        default="duckdb",
        help="where the linkage scores its candidate pairs: DuckDB in the warehouse (default) or Splink "
        "on Spark (local mode, or the cluster in $DTSEN_SPARK_MASTER; needs Java 17)",
    )
    r.set_defaults(func=_cmd_run)

    st = sub.add_parser("status", help="per month: built, partial or missing and why; the marts' area; payment files")
    st.add_argument("--json", action="store_true", help="one JSON list, every month")
    _data_arg(st, warehouse=True)
    st.set_defaults(func=_cmd_status)

    d = sub.add_parser("demo", help="generate demo deliveries and run every month (what `make run` does)")
    d.add_argument("--persons", type=int, default=20_000)
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--months", type=int, default=3)
    d.add_argument("--data", default="data", help="the demo's data root: emptied and rebuilt (default: data)")
    d.set_defaults(func=_cmd_demo)

    pd_ = sub.add_parser(
        "prepare-dbt",
        help="parse the dbt project for a warehouse as its monthly runs will, so the "
        "first month's build starts from a saved parse (`make setup` does it)",
    )
    _data_arg(pd_, warehouse=True)
    pd_.set_defaults(func=_cmd_prepare_dbt)

    t = sub.add_parser("train-linkage", help="retrain the linkage model on generated data and save it as JSON")
    t.add_argument("--persons", type=int, default=100_000)
    t.add_argument("--seed", type=int, default=7)
    t.add_argument("--out", default=None, help="model file (default: the version-controlled dtsen/linkage/models/)")
    t.set_defaults(func=_cmd_train)

    mt = sub.add_parser("match", help="match an external list (canonical record shape) against the current DTSEN")
    mt.add_argument(
        "--input",
        required=True,
        help="CSV or Parquet with record_id, nik, no_kk, name, sex, birth_date, "
        "village_code (missing columns are treated as empty)",
    )
    mt.add_argument("--out", required=True, help="CSV or Parquet to write")
    _data_arg(mt, warehouse=True)
    mt.add_argument("--month", default=None, help="DTSEN snapshot to match against (default: the latest)")
    mt.set_defaults(func=_cmd_match)

    sv = sub.add_parser("serve", help="serve DTSEN through the DCI Social Registry API (latest published snapshot)")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--host", default="127.0.0.1")
    _data_arg(sv)
    sv.add_argument("--config", default=None, help="clients file (default: $DTSEN_API_CONFIG or the development one)")
    sv.add_argument("--log-level", default="warning")
    sv.set_defaults(func=_cmd_serve)

    wb = sub.add_parser("web", help="serve Cek Bansos and the caseworker desk (latest exported snapshot)")
    wb.add_argument("--port", type=int, default=8090)
    wb.add_argument("--host", default="127.0.0.1")
    _data_arg(wb)
    wb.add_argument("--behind-proxy", action="store_true", help="take the client address from X-Forwarded-For")
    wb.add_argument("--log-level", default="warning")
    wb.set_defaults(func=_cmd_web)

    wu = sub.add_parser("web-user", help="add a user of the caseworker desk")
    wu.add_argument("--username", required=True)
    wu.add_argument("--role", required=True, choices=["caseworker", "supervisor", "admin"])
    wu.add_argument("--regency", default=None, help="4-digit regency code (caseworker, supervisor)")
    wu.add_argument("--name", default=None, help="full name")
    wu.add_argument(
        "--password-env", default=None, help="read the password from this environment variable (default: ask)"
    )
    _data_arg(wu)
    wu.set_defaults(func=_cmd_web_user)

    we = sub.add_parser("web-export", help="export the approved proposals and objections as a landing delivery")
    we.add_argument("--month", required=True, help="delivery month YYYY-MM")
    we.add_argument("--landing", default=None, help="landing folder (default: the data root's)")
    _data_arg(we)
    we.set_defaults(func=_cmd_web_export)

    ap_api = sub.add_parser("api", help="data-exchange API tools")
    api_sub = ap_api.add_subparsers(dest="api_cmd", required=True)
    tk = api_sub.add_parser("token", help="print a bearer token for a configured client")
    tk.add_argument("--client", required=True)
    tk.add_argument("--scope", default=None, help="space-separated scopes (default: all of the client's)")
    tk.add_argument("--ttl", type=int, default=None, help="lifetime in seconds (default: the configuration's)")
    tk.add_argument("--config", default=None)
    tk.set_defaults(func=_cmd_api_token)

    au = sub.add_parser("audit", help="who looked at this person: the data-exchange API's audit log")
    au.add_argument("--id", default=None, help="a DTSEN person or family id")
    au.add_argument("--nik", default=None, help="a NIK (looked up in the served snapshots)")
    au.add_argument("--client", default=None, help="without --id/--nik: the latest requests (of this client)")
    au.add_argument("--limit", type=int, default=50)
    _data_arg(au)
    au.set_defaults(func=_cmd_audit)

    args = ap.parse_args(argv)
    from dtsen import credentials, filemodes

    filemodes.owner_only_by_default()  # whatever the caller's umask: the platform decides who reads its files
    try:
        return args.func(args)
    except credentials.SecretError as e:  # a secret refused: say which and how to provide it, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
