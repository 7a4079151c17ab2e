"""Writes the five Grafana dashboards of keygate into dashboards/ (python3 gen_dashboards.py).

The JSON files are committed; edit this script and run it again rather than editing them.
test/deploy checks every expression parses as PromQL and names only metrics keygate exports.
"""
import json, os
OUT=os.path.join(os.path.dirname(os.path.abspath(__file__)),'dashboards')
DS={"type":"prometheus","uid":"prometheus"}
def var(name, query, multi=True):
    return {"name":name,"type":"query","datasource":DS,"query":{"query":query,"refId":name},
            "definition":query,"includeAll":True,"multi":multi,"allValue":".*","refresh":2,
            "current":{"selected":True,"text":["All"],"value":["$__all"]}}
def panel(pid, title, targets, x, y, w=12, h=8, unit="short", kind="timeseries", desc=""):
    p={"id":pid,"type":kind,"title":title,"datasource":DS,"gridPos":{"x":x,"y":y,"w":w,"h":h},
       "fieldConfig":{"defaults":{"unit":unit},"overrides":[]},"options":{},
       "targets":[{"refId":chr(65+i),"datasource":DS,"expr":e,"legendFormat":l} for i,(e,l) in enumerate(targets)]}
    if desc: p["description"]=desc
    if kind=="timeseries":
        p["options"]={"legend":{"displayMode":"table","placement":"bottom","calcs":["lastNotNull","max"]},"tooltip":{"mode":"multi"}}
    return p
def dash(uid, title, desc, panels, variables):
    d={"uid":uid,"title":title,"description":desc,"tags":["keygate"],"timezone":"browser","schemaVersion":39,
       "version":1,"editable":False,"refresh":"30s","time":{"from":"now-6h","to":"now"},
       "templating":{"list":variables},"annotations":{"list":[]},"panels":panels,
       "links":[{"type":"dashboards","tags":["keygate"],"asDropdown":True,"title":"keygate"}]}
    with open(os.path.join(OUT,uid+'.json'),'w') as f:
        json.dump(d,f,indent=2); f.write('\n')
R='$__rate_interval'
J='job=~"$job", instance=~"$instance"'
jobvar=lambda q: var("job",q)
instvar=var("instance",'label_values(up{job=~"$job"}, instance)')

dash("keygate-auth-overview","keygate / Auth overview","Logins, tokens issued and the signing key, across every authd replica.",[
  panel(1,"Logins per second by result",[(f'sum by (result) (rate(keygate_logins_total{{{J}}}[{R}]))',"{{result}}")],0,0,unit="reqps"),
  panel(2,"Access tokens issued per second",[(f'sum(rate(keygate_tokens_issued_total{{{J}}}[{R}]))',"issued"),
                                            (f'sum by (instance) (rate(keygate_tokens_issued_total{{{J}}}[{R}]))',"{{instance}}")],12,0,unit="ops"),
  panel(3,"Login success ratio",[(f'sum(rate(keygate_logins_total{{{J}, result="ok"}}[{R}])) / sum(rate(keygate_logins_total{{{J}}}[{R}]))',"ok")],0,8,w=6,unit="percentunit",kind="stat"),
  panel(4,"authd replicas up",[('sum(up{job="authd"})',"up")],6,8,w=6,kind="stat"),
  panel(5,"Signing key age",[(f'max(keygate_signing_key_age_seconds{{{J}}})',"age")],12,8,w=6,unit="s",kind="stat"),
  panel(6,"Next signing key in",[(f'min(keygate_signing_key_next_seconds{{{J}}})',"next")],18,8,w=6,unit="s",kind="stat",
        desc="Negative: rotation is overdue."),
  panel(7,"Failed logins per second (invalid credentials, rate limited)",[(f'sum by (result) (rate(keygate_logins_total{{{J}, result=~"invalid_credentials|rate_limited"}}[{R}]))',"{{result}}")],0,16,w=24,unit="reqps"),
],[jobvar('label_values(keygate_logins_total, job)'),instvar])

dash("keygate-token-validation","keygate / Token validation","Local validations in every verifier: rate by result, latency.",[
  panel(1,"Validations per second by result",[(f'sum by (result) (rate(keygate_token_validations_total{{{J}}}[{R}]))',"{{result}}")],0,0,unit="ops"),
  panel(2,"Validations per second by service",[(f'sum by (job) (rate(keygate_token_validations_total{{{J}}}[{R}]))',"{{job}}")],12,0,unit="ops"),
  panel(3,"Validation latency",[
      (f'histogram_quantile(0.5, sum by (le) (rate(keygate_token_validation_duration_seconds_bucket{{{J}}}[{R}])))',"p50"),
      (f'histogram_quantile(0.99, sum by (le) (rate(keygate_token_validation_duration_seconds_bucket{{{J}}}[{R}])))',"p99"),
      (f'sum(rate(keygate_token_validation_duration_seconds_sum{{{J}}}[{R}])) / sum(rate(keygate_token_validation_duration_seconds_count{{{J}}}[{R}]))',"mean")],0,8,unit="s"),
  panel(4,"Refused tokens ratio",[(f'sum(rate(keygate_token_validations_total{{{J}, result!="ok"}}[{R}])) / sum(rate(keygate_token_validations_total{{{J}}}[{R}]))',"refused")],12,8,unit="percentunit"),
  panel(5,"Revoked tokens refused per second",[(f'sum by (job) (rate(keygate_token_validations_total{{{J}, result="revoked"}}[{R}]))',"{{job}}")],0,16,w=24,unit="ops"),
],[jobvar('label_values(keygate_token_validations_total, job)'),instvar])

dash("keygate-revocation","keygate / Revocation","How fast revocations reach every verifier, how stale each set may be, its size and resyncs.",[
  panel(1,"Propagation latency (publish to applied)",[
      (f'histogram_quantile(0.5, sum by (le) (rate(keygate_revocation_propagation_seconds_bucket{{{J}}}[{R}])))',"p50"),
      (f'histogram_quantile(0.99, sum by (le) (rate(keygate_revocation_propagation_seconds_bucket{{{J}}}[{R}])))',"p99"),
      (f'histogram_quantile(0.99, sum by (kind, le) (rate(keygate_revocation_propagation_seconds_bucket{{{J}}}[{R}])))',"p99 {{kind}}")],0,0,unit="s",
      desc="Objective: p99 under 1 s."),
  panel(2,"Feed staleness by instance",[(f'max by (instance) (keygate_revocation_staleness_seconds{{{J}}})',"{{instance}}")],12,0,unit="s",
      desc="How stale each verifier's set may be; the alert fires above 30 s."),
  panel(3,"Feed connected",[(f'min by (instance) (keygate_revocation_feed_connected{{{J}}})',"{{instance}}")],0,8,w=8),
  panel(4,"Revocation set size",[(f'max by (instance) (keygate_revocation_entries{{{J}}})',"{{instance}}")],8,8,w=8),
  panel(5,"Resyncs by reason",[(f'sum by (reason) (increase(keygate_revocation_resyncs_total{{{J}}}[{R}]))',"{{reason}}")],16,8,w=8),
  panel(6,"Revocation store latency p99 by op",[(f'histogram_quantile(0.99, sum by (op, le) (rate(keygate_revocation_store_duration_seconds_bucket{{{J}}}[{R}])))',"{{op}}")],0,16,unit="s"),
  panel(7,"Revocation store errors per second",[(f'sum by (op) (rate(keygate_revocation_store_duration_seconds_count{{{J}, result="error"}}[{R}]))',"{{op}}")],12,16,unit="ops"),
  panel(8,"Events applied per second by kind",[(f'sum by (kind) (rate(keygate_revocation_propagation_seconds_count{{{J}}}[{R}]))',"{{kind}}")],0,24,w=24,unit="ops"),
],[jobvar('label_values(keygate_revocation_entries, job)'),instvar])

dash("keygate-dependencies","keygate / Dependencies","Redis, the database and the JWKS as each process sees them.",[
  panel(1,"Dependency up",[(f'min by (dependency, instance) (keygate_dependency_up{{{J}}})',"{{dependency}} {{instance}}")],0,0,w=24,
      desc="1: answers; 0: down."),
  panel(2,"JWKS fetches per second by trigger and outcome",[(f'sum by (trigger, outcome) (rate(keygate_jwks_fetches_total{{{J}}}[{R}]))',"{{trigger}} {{outcome}}")],0,8,unit="ops"),
  panel(3,"JWKS fetch latency",[
      (f'histogram_quantile(0.5, sum by (le) (rate(keygate_jwks_fetch_duration_seconds_bucket{{{J}}}[{R}])))',"p50"),
      (f'histogram_quantile(0.99, sum by (le) (rate(keygate_jwks_fetch_duration_seconds_bucket{{{J}}}[{R}])))',"p99")],12,8,unit="s"),
  panel(4,"Revocation store latency p99 (Redis)",[(f'histogram_quantile(0.99, sum by (op, le) (rate(keygate_revocation_store_duration_seconds_bucket{{{J}}}[{R}])))',"{{op}}")],0,16,unit="s"),
  panel(5,"Logins refused as unavailable",[(f'sum(rate(keygate_logins_total{{{J}, result="unavailable"}}[{R}]))',"unavailable")],12,16,unit="reqps"),
],[jobvar('label_values(keygate_dependency_up, job)'),instvar])

dash("keygate-http","keygate / HTTP","Requests by route (chi route patterns, never raw paths), status and latency.",[
  panel(1,"Requests per second by route",[(f'sum by (job, route) (rate(http_request_duration_seconds_count{{{J}}}[{R}]))',"{{job}} {{route}}")],0,0,unit="reqps"),
  panel(2,"Requests per second by status code",[(f'sum by (code) (rate(http_request_duration_seconds_count{{{J}}}[{R}]))',"{{code}}")],12,0,unit="reqps"),
  panel(3,"p99 duration by route",[(f'histogram_quantile(0.99, sum by (job, route, le) (rate(http_request_duration_seconds_bucket{{{J}}}[{R}])))',"{{job}} {{route}}")],0,8,unit="s"),
  panel(4,"5xx ratio by service",[(f'sum by (job) (rate(http_request_duration_seconds_count{{{J}, code=~"5.."}}[{R}])) / sum by (job) (rate(http_request_duration_seconds_count{{{J}}}[{R}]))',"{{job}}")],12,8,unit="percentunit"),
  panel(5,"Requests in flight",[(f'sum by (instance) (http_requests_in_flight{{{J}}})',"{{instance}}")],0,16,w=8),
  panel(6,"Resident memory",[(f'process_resident_memory_bytes{{{J}}}',"{{instance}}")],8,16,w=8,unit="bytes"),
  panel(7,"Goroutines",[(f'go_goroutines{{{J}}}',"{{instance}}")],16,16,w=8),
],[jobvar('label_values(http_request_duration_seconds_count, job)'),instvar])
