#!/usr/bin/env python3
"""Checks charts/lifeboat and the Dockerfile without helm or docker (neither is in Debian 12).

What is checked: every template's YAML parses once its template actions are blanked out; every
`.Values.x` a template reads is defined in values.yaml; the chart's CRDs are crds/; the RBAC
rules cover every (resource, verb) the controller's code calls, and nothing is granted with a
wildcard; the Deployment runs leader-elected, non-root and read-only; the dashboard is valid.
The Dockerfile's build stage installs the Makefile's BUILD_PACKAGES, its runtime packages exist
in Debian and provide every library `ldd lifeboat` lists.

Not checked (needs helm / a cluster / docker): Go-template rendering itself, and that the
rendered objects are accepted by a real API server or that the image builds.

Usage: chart_test.py SOURCE_DIR [LIFEBOAT_BINARY]
"""
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

import yaml

SOURCE = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
BINARY = sys.argv[2] if len(sys.argv) > 2 else ""
CHART = os.path.join(SOURCE, "charts", "lifeboat")
TEMPLATES = os.path.join(CHART, "templates")

ACTION = re.compile(r"\{\{.*?\}\}")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def strip_template(text):
    """Drops lines that hold only template actions; replaces inline actions with a scalar."""
    lines = []
    for line in text.splitlines():
        if line.strip() and not ACTION.sub("", line).strip():
            continue
        lines.append(ACTION.sub("TEMPLATED", line))
    return "\n".join(lines) + "\n"


def template_files(ext=".yaml"):
    return sorted(os.path.join(TEMPLATES, f) for f in os.listdir(TEMPLATES) if f.endswith(ext))


def load_template(name):
    return [d for d in yaml.safe_load_all(strip_template(read(os.path.join(TEMPLATES, name)))) if d]


# --- what the controller's code calls --------------------------------------------------------

CALL = re.compile(
    r"\b(?:client_?|ctx\.client|context\.client|kube_?)\s*(?:\.|->)\s*"
    r"(Get|List|Watch|Create|Update|UpdateStatus|Patch|Delete)\(")


def call_arguments(text, start):
    """The top-level arguments of the call whose '(' is just before `start`."""
    depth, args, current = 1, [], ""
    for c in text[start:]:
        if c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
            if depth == 0:
                args.append(current.strip())
                return args
        if c == "," and depth == 1:
            args.append(current.strip())
            current = ""
        else:
            current += c
    return args
VERB = {"Get": "get", "List": "list", "Watch": "watch", "Create": "create", "Update": "update",
        "Patch": "patch", "Delete": "delete", "UpdateStatus": "update"}


def lifeboat_plurals():
    """(Kind, plural) from reconcilers/kinds.cc, the table every controller is built from."""
    pairs = re.findall(r'Make\("(\w+)",\s*"(\w+)"\)', read(os.path.join(SOURCE, "reconcilers",
                                                                          "kinds.cc")))
    assert pairs, "reconcilers/kinds.cc: no Make(\"Kind\", \"plural\") entries found"
    return dict(pairs)


def resources_of(expr, plurals):
    """(apiGroup, resource) names a resource expression of a client call stands for."""
    expr = expr.strip()
    if expr in ("EventResource()", "controller::EventResource()"):
        return [("", "events")]
    if expr in ("LeaseResource()", "controller::LeaseResource()", "lease_ref"):
        return [("coordination.k8s.io", "leases")]
    if re.fullmatch(r"(controller::)?SecretResource\(\)|secret_ref|kSecretResource", expr):
        return [("", "secrets")]
    m = re.fullmatch(r'(?:reconcilers::)?LifeboatResource\("(\w+)"\)\S*', expr)
    if m:
        return [("lifeboat.dev", plurals[m.group(1)])]
    # Named constants: kVaults, kRecoveryPoints, kSecrets, kEvents, kLeases.
    m = re.fullmatch(r"(?:\w+::)*k([A-Z]\w*)", expr)
    if m:
        name = m.group(1).lower()
        if name in plurals.values():
            return [("lifeboat.dev", name)]
        core = {"secrets": ("", "secrets"), "events": ("", "events"),
                "leases": ("coordination.k8s.io", "leases"),
                "deployments": ("apps", "deployments"),
                "statefulsets": ("apps", "statefulsets")}
        if name in core:
            return [core[name]]
    # The generic runtime (informers, finalizers, status writer) works on the kind it was
    # built for: every Lifeboat kind.
    if expr in ("resource_", "resource", "ctx.resource", "context.resource", "options_.resource",
                "spec.resource", "resource()"):
        return [("lifeboat.dev", p) for p in plurals.values()]
    return None


def code_calls():
    """{(group, resource, subresource, verb)} used by controller/ and reconcilers/."""
    plurals = lifeboat_plurals()
    needed, unknown = set(), []
    for top in ("controller", "reconcilers"):
        for root, _, files in os.walk(os.path.join(SOURCE, top)):
            for name in files:
                if not name.endswith(".cc"):
                    continue
                path = os.path.join(root, name)
                text = read(path)
                for m in CALL.finditer(text):
                    args = call_arguments(text, m.end())
                    verb, expr = m.group(1), args[0] if args else ""
                    resources = resources_of(expr, plurals)
                    if resources is None:
                        line = text.count("\n", 0, m.start()) + 1
                        unknown.append(f"{os.path.relpath(path, SOURCE)}:{line}: {verb}({expr}")
                        continue
                    # Patch(resource, key, type, patch, "status") writes the status subresource.
                    to_status = verb == "UpdateStatus" or (verb == "Patch" and len(args) >= 5 and
                                                           args[4] == '"status"')
                    for group, resource in resources:
                        sub = "status" if to_status else ""
                        needed.add((group, resource, sub, VERB[verb]))
                        if verb == "Update" and group == "lifeboat.dev":
                            # Updates set finalizers: needs <kind>/finalizers where the
                            # OwnerReferencesPermissionEnforcement admission plugin is on.
                            needed.add((group, resource, "finalizers", "update"))
    return needed, unknown


def granted(rules):
    out = set()
    for rule in rules:
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                resource, _, sub = resource.partition("/")
                for verb in rule.get("verbs", []):
                    out.add((group, resource, sub, verb))
    return out


class ChartTest(unittest.TestCase):
    def setUp(self):
        self.values = yaml.safe_load(read(os.path.join(CHART, "values.yaml")))

    def test_chart_metadata(self):
        chart = yaml.safe_load(read(os.path.join(CHART, "Chart.yaml")))
        self.assertEqual(chart["apiVersion"], "v2")
        self.assertEqual(chart["name"], "lifeboat")
        for key in ("version", "appVersion", "description"):
            self.assertTrue(chart.get(key), f"Chart.yaml: {key} is missing")

    def test_every_template_parses_and_names_its_objects(self):
        kinds = set()
        for path in template_files():
            with self.subTest(template=os.path.basename(path)):
                try:
                    docs = [d for d in yaml.safe_load_all(strip_template(read(path))) if d]
                except yaml.YAMLError as e:
                    self.fail(f"{path}: YAML outside the template actions does not parse: {e}")
                self.assertTrue(docs, f"{path}: no object")
                for doc in docs:
                    for key in ("apiVersion", "kind", "metadata"):
                        self.assertIn(key, doc, f"{path}: an object without {key}")
                    self.assertIn("name", doc["metadata"], f"{path}: {doc['kind']} has no name")
                    kinds.add(doc["kind"])
        for kind in ("Deployment", "DaemonSet", "ServiceAccount", "ClusterRole",
                     "ClusterRoleBinding", "Role", "RoleBinding", "Service", "ServiceMonitor",
                     "PrometheusRule", "ConfigMap", "NetworkPolicy"):
            self.assertIn(kind, kinds, f"the chart has no {kind}")

    def test_template_actions_are_balanced(self):
        for path in template_files() + template_files(".tpl") + template_files(".txt"):
            text = read(path)
            opens = len(re.findall(r"\{\{-?\s*(if|with|range|define)\b", text))
            ends = len(re.findall(r"\{\{-?\s*end\s*-?\}\}", text))
            self.assertEqual(opens, ends, f"{path}: {opens} if/with/range/define, {ends} end")
            self.assertEqual(text.count("{{"), text.count("}}"), f"{path}: unbalanced braces")

    def test_every_value_read_is_defined(self):
        for path in template_files() + template_files(".tpl") + template_files(".txt"):
            for ref in sorted(set(re.findall(r"\.Values\.([A-Za-z0-9_.]+)", read(path)))):
                node = self.values
                for part in ref.split("."):
                    self.assertIsInstance(node, dict, f"{path}: .Values.{ref}")
                    self.assertIn(part, node, f"{path}: .Values.{ref} is not in values.yaml")
                    node = node[part]

    def test_files_the_templates_read_exist(self):
        for path in template_files():
            for name in re.findall(r'\.Files\.Get "([^"]+)"', read(path)):
                self.assertTrue(os.path.isfile(os.path.join(CHART, name)),
                                f"{path}: .Files.Get {name}: no such file in the chart")

    def test_crds_are_the_repository_crds(self):
        chart_crds = os.path.join(CHART, "crds")
        repo_crds = os.path.join(SOURCE, "crds")
        # A symlink (one copy in git). If it is ever replaced by copies, they must be identical.
        if os.path.islink(chart_crds):
            self.assertEqual(os.path.realpath(chart_crds), os.path.realpath(repo_crds))
        names = sorted(f for f in os.listdir(repo_crds) if f.endswith(".yaml"))
        self.assertEqual(sorted(f for f in os.listdir(chart_crds) if f.endswith(".yaml")), names)
        plurals = set(lifeboat_plurals().values())
        served = set()
        for name in names:
            self.assertEqual(read(os.path.join(chart_crds, name)),
                             read(os.path.join(repo_crds, name)), name)
            crd = yaml.safe_load(read(os.path.join(chart_crds, name)))
            self.assertEqual(crd["kind"], "CustomResourceDefinition", name)
            self.assertEqual(crd["spec"]["group"], "lifeboat.dev", name)
            served.add(crd["spec"]["names"]["plural"])
        self.assertEqual(served, plurals, "crds/ and reconcilers/kinds.cc disagree")

    def rbac(self):
        docs = load_template("rbac.yaml")
        by_kind = {}
        for d in docs:
            by_kind.setdefault(d["kind"], []).append(d)
        return by_kind

    def test_rbac_covers_every_call_of_the_controller(self):
        needed, unknown = code_calls()
        self.assertFalse(unknown, "client calls on a resource this test cannot map; add it to "
                         "resources_of() and grant it in templates/rbac.yaml:\n" +
                         "\n".join(unknown))
        self.assertIn(("coordination.k8s.io", "leases", "", "update"), needed)
        self.assertIn(("", "events", "", "create"), needed)
        by_kind = self.rbac()
        cluster = granted(by_kind["ClusterRole"][0]["rules"])
        namespaced = granted(by_kind["Role"][0]["rules"])
        for call in sorted(needed):
            group, resource, sub, verb = call
            where = namespaced if resource == "leases" else cluster
            self.assertIn(call, where, f"RBAC lacks {verb} on {group or 'core'}/{resource}"
                          f"{'/' + sub if sub else ''}")
        # Informers list and watch every kind; the status subresource of each is written.
        for plural in lifeboat_plurals().values():
            for verb in ("get", "list", "watch"):
                self.assertIn(("lifeboat.dev", plural, "", verb), cluster)
            self.assertIn(("lifeboat.dev", plural, "status", "update"), cluster)

    def test_rbac_is_least_privilege(self):
        by_kind = self.rbac()
        cluster = granted(by_kind["ClusterRole"][0]["rules"])
        namespaced = granted(by_kind["Role"][0]["rules"])
        for group, resource, sub, verb in cluster | namespaced:
            self.assertNotIn("*", (group, resource, sub, verb))
        self.assertEqual({v for g, r, s, v in cluster if r == "secrets"}, {"get"},
                         "secrets: get only (by the name a resource references)")
        self.assertFalse({c for c in cluster if c[1] == "leases"},
                         "leases belong in the release namespace's Role, not the ClusterRole")
        self.assertEqual({r for g, r, s, v in cluster} - set(lifeboat_plurals().values()),
                         {"events", "secrets", "deployments", "statefulsets"})
        role = by_kind["Role"][0]
        self.assertEqual(role["metadata"]["namespace"], "TEMPLATED")  # .Release.Namespace
        self.assertIn(".Release.Namespace", read(os.path.join(TEMPLATES, "rbac.yaml")))

    def test_controller_deployment(self):
        deployment = load_template("deployment.yaml")[0]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        text = read(os.path.join(TEMPLATES, "deployment.yaml"))
        self.assertEqual(self.values["controller"]["replicas"], 2)
        self.assertTrue(self.values["controller"]["leaderElection"]["enabled"])
        self.assertIn("- --leader-elect", text)
        self.assertIn("--metrics-bind-address=0.0.0.0:", text)
        self.assertIn("--health-probe-bind-address=0.0.0.0:", text)
        self.assertEqual(container["livenessProbe"]["httpGet"]["path"], "/healthz")
        self.assertEqual(container["readinessProbe"]["httpGet"]["path"], "/readyz")
        self.assertTrue(self.values["securityContext"]["readOnlyRootFilesystem"])
        self.assertFalse(self.values["securityContext"]["allowPrivilegeEscalation"])
        self.assertEqual(self.values["securityContext"]["capabilities"]["drop"], ["ALL"])
        self.assertTrue(self.values["podSecurityContext"]["runAsNonRoot"])
        self.assertNotEqual(self.values["podSecurityContext"]["runAsUser"], 0)
        self.assertIn("limits", self.values["controller"]["resources"])
        self.assertIn("requests", self.values["controller"]["resources"])
        # Every flag the chart passes is one `lifeboat controller --help` lists.
        flags = set(re.findall(r"- --([a-z-]+)", text))
        self.assertIn("leader-elect", flags)
        if BINARY:
            listed = subprocess.run([BINARY, "controller", "--help"], capture_output=True,
                                    text=True).stdout
        else:
            listed = read(os.path.join(SOURCE, "cli", "controller_command.cc"))
        for flag in flags:
            self.assertRegex(listed, rf'--{flag}\b|"{flag}"', f"deployment.yaml passes --{flag}, "
                             "which `lifeboat controller` does not define")

    def test_agent_is_off_and_refuses_to_render(self):
        self.assertFalse(self.values["agent"]["enabled"])
        self.assertIn("{{- fail ", read(os.path.join(TEMPLATES, "daemonset.yaml")))
        self.assertIn("hostPath", read(os.path.join(TEMPLATES, "daemonset.yaml")))

    def test_dashboard_and_alerts(self):
        dashboard = json.loads(read(os.path.join(CHART, "files", "dashboard.json")))
        self.assertEqual(dashboard["uid"], "lifeboat-overview")
        exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        self.assertGreaterEqual(len(exprs), 20)
        for needle in ("lifeboat_rpo_target_seconds", "lifeboat_backup_total",
                       "lifeboat_restore_total", "lifeboat_vault_dedup_ratio",
                       "lifeboat_replication_lag_seconds", "lifeboat_replication_sent_bytes_total",
                       "lifeboat_failover_rto_seconds", "lifeboat_reconcile_errors_total",
                       "lifeboat_workqueue_depth"):
            self.assertTrue(any(needle in e for e in exprs), f"dashboard: no panel on {needle}")
        self.assertEqual(self.values["dashboard"]["labels"], {"grafana_dashboard": "1"})
        rules = yaml.safe_load(read(os.path.join(CHART, "files", "alerts.yaml")))
        alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
        for alert in ("LifeboatRPOBreached", "LifeboatRPOCritical", "LifeboatBackupsFailing",
                      "LifeboatVaultNotReady", "LifeboatSiteUnreachable",
                      "LifeboatVolumeUnprotected", "LifeboatVaultSecondaryLagging",
                      "LifeboatReconcileErrors"):
            self.assertIn(alert, alerts)
        tests = read(os.path.join(CHART, "tests", "alerts_test.yaml"))
        for alert in alerts:
            self.assertIn(f"alertname: {alert}\n", tests, f"{alert} has no promtool test")


# --- Dockerfile ------------------------------------------------------------------------------

def makefile_list(name):
    text = read(os.path.join(SOURCE, "Makefile")).replace("\\\n", " ")
    m = re.search(rf"^{name}\s*:=\s*(.*)$", text, re.M)
    assert m, f"Makefile: {name} not found"
    return m.group(1).split()


def dockerfile_stages():
    """[(stage line, [apt-get install packages])] in order."""
    text = read(os.path.join(SOURCE, "Dockerfile")).replace("\\\n", " ")
    stages = []
    for line in text.splitlines():
        if line.startswith("FROM "):
            stages.append((line, []))
        m = re.search(r"apt-get install (.*?)(?:&&|$)", line)
        if m and stages:
            stages[-1][1].extend(p for p in m.group(1).split() if not p.startswith("-"))
    return stages


def dpkg_owners(paths):
    """{path: Debian package shipping it}; ldd prints /lib or /usr/lib, dpkg records either."""
    variants = {}
    for path in paths:
        for p in {path, os.path.realpath(path)}:
            for v in (p, p[4:] if p.startswith("/usr/") else "/usr" + p):
                variants.setdefault(v, path)
    r = subprocess.run(["dpkg", "-S"] + sorted(variants), capture_output=True, text=True)
    owners = {}
    for line in r.stdout.splitlines():
        package, _, shipped = line.partition(": ")
        if shipped in variants:
            owners[variants[shipped]] = package.split(":")[0]
    return owners


class DockerfileTest(unittest.TestCase):
    def test_stages(self):
        stages = dockerfile_stages()
        self.assertEqual(len(stages), 2)
        self.assertEqual(stages[0][0], "FROM debian:12-slim AS build")
        self.assertEqual(stages[1][0], "FROM debian:12-slim")
        self.assertEqual(sorted(stages[0][1]), sorted(makefile_list("BUILD_PACKAGES")),
                         "the build stage must install exactly the Makefile's BUILD_PACKAGES")

    def test_runs_non_root_with_the_crds_where_lifeboat_up_finds_them(self):
        text = read(os.path.join(SOURCE, "Dockerfile"))
        user = re.findall(r"^USER (\d+)(?::(\d+))?$", text, re.M)
        self.assertTrue(user and user[-1][0] != "0", "the runtime stage must set a non-root USER")
        values = yaml.safe_load(read(os.path.join(CHART, "values.yaml")))
        self.assertEqual(int(user[-1][0]), values["podSecurityContext"]["runAsUser"])
        binary = re.search(r"^COPY --from=build \S+ (\S+)$", text, re.M).group(1)
        crds = re.search(r"^COPY crds/ (\S+?)/?$", text, re.M).group(1)
        bin_dir = os.path.dirname(binary)
        searched = {os.path.normpath(os.path.join(bin_dir, d))
                    for d in ("crds", "../crds", "../share/lifeboat/crds")}
        self.assertIn(os.path.normpath(crds), searched)
        self.assertIn('"share" / "lifeboat" / "crds"',
                      read(os.path.join(SOURCE, "cli", "up_command.cc")))

    def test_runtime_packages_exist_in_debian(self):
        if not shutil.which("apt-cache"):
            self.skipTest("apt-cache is not available (not a Debian system)")
        packages = dockerfile_stages()[1][1]
        r = subprocess.run(["apt-cache", "show", "--no-all-versions"] + packages,
                           capture_output=True, text=True)
        shown = set(re.findall(r"^Package: (\S+)$", r.stdout, re.M))
        for package in packages:
            self.assertIn(package, shown, f"{package}: not in this system's Debian archive")

    def test_runtime_packages_provide_every_library(self):
        if not BINARY:
            self.skipTest("no lifeboat binary given")
        if not shutil.which("dpkg"):
            self.skipTest("dpkg is not available (not a Debian system)")
        runtime = set(dockerfile_stages()[1][1])
        out = subprocess.run(["ldd", BINARY], capture_output=True, text=True, check=True).stdout
        libraries = re.findall(r"=> (/\S+)", out)
        self.assertTrue(libraries, out)
        owners = dpkg_owners(libraries)
        missing = [f"{library} (package {owners.get(library)})" for library in libraries
                   if owners.get(library) not in runtime]
        self.assertFalse(missing, "libraries of lifeboat no runtime package provides:\n" +
                         "\n".join(missing))


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
