#!/usr/bin/env python3
# Deletion with garbage collection in the embedded API server: starts `lifeboat up --no-controllers`,
# creates N ConfigMaps over 4 connections, then times one DELETE of the collection and the
# server CPU it costs until the background loop (garbage collection of each deleted uid) is idle.
#   bench/apiserver/gc_bench.py LIFEBOAT_BINARY N
import http.client, json, ssl, subprocess, sys, time, os, re, tempfile, threading
binary, n = sys.argv[1], int(sys.argv[2])
d = tempfile.mkdtemp(prefix="gcb-", dir=os.environ.get("TMPDIR", "/tmp"))
p = subprocess.Popen([binary, "up", "--data-dir", d, "--port", "0", "--metrics-bind-address", "127.0.0.1:0", "--no-controllers"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
url = None
for line in p.stdout:
    m = re.search(r"listening on https://127.0.0.1:(\d+)", line)
    if m: port = int(m.group(1))
    if "kubectl get lifeboat" in line: break
token = open(d + "/token").read().strip()
ctx = ssl.create_default_context(cafile=d + "/ca.crt")
def conn(): return http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
H = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
def worker(lo, hi):
    c = conn()
    for i in range(lo, hi):
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-%d" % i, "namespace": "default"}, "data": {"k": "x" * 400}}
        c.request("POST", "/api/v1/namespaces/default/configmaps", json.dumps(body), H); r = c.getresponse(); r.read()
        assert r.status == 201, r.status
ts = [threading.Thread(target=worker, args=(k * n // 4, (k + 1) * n // 4)) for k in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
def cpu():
    f = open("/proc/%d/stat" % p.pid).read().split(")")[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
c0 = cpu(); t0 = time.time()
c = conn(); c.request("DELETE", "/api/v1/namespaces/default/configmaps", None, H); r = c.getresponse(); r.read(); t1 = time.time()
# wait until the background loop goes idle (cpu stops rising)
last = cpu(); time.sleep(0.5)
while cpu() - last > 0.02:
    last = cpu(); time.sleep(0.5)
print("%s n=%d deletecollection %.2f s, server CPU for it incl. GC %.2f s" % (os.path.basename(binary), n, t1 - t0, cpu() - c0))
p.terminate(); p.wait()
subprocess.run(["rm", "-rf", d])
