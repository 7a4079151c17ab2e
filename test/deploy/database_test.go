package deploy

import (
	"strconv"
	"strings"
	"testing"
)

// TestDatabaseAndItsBackup: each kustomization deploys exactly one database, MySQL or (prod-
// postgres, the component deploy/k8s/components/postgres) PostgreSQL, and nothing of the
// other; authd and the migration Job are pointed at it; the nightly backup dumps that
// database with its own dump tool, from the server's image (the same major version), to the
// keygate-backup volume, with the password of the keygate-db Secret.
func TestDatabaseAndItsBackup(t *testing.T) {
	other := map[string]string{"mysql": "postgres", "postgres": "mysql"}
	dumpTool := map[string]string{"mysql": "mysqldump", "postgres": "pg_dump"}
	passwordVar := map[string]string{"mysql": "MYSQL_PWD", "postgres": "PGPASSWORD"}
	for dir, b := range buildAll(t) {
		db, port := database(dir)
		var image string
		for _, s := range b.StatefulSets {
			switch s.Name {
			case db:
				if len(s.Spec.VolumeClaimTemplates) != 1 {
					t.Errorf("%s: StatefulSet %s has %d volume claim templates, want its data volume", dir, db, len(s.Spec.VolumeClaimTemplates))
				}
				image = s.Spec.Template.Spec.Containers[0].Image
			case other[db]:
				t.Errorf("%s: deploys %s too", dir, other[db])
			}
		}
		if image == "" {
			t.Fatalf("%s: no %s StatefulSet", dir, db)
		}
		if svc := findService(b, db); svc == nil || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != port {
			t.Errorf("%s: Service %s = %+v, want one on port %d", dir, db, svc, port)
		}
		if findService(b, other[db]) != nil {
			t.Errorf("%s: a Service %s remains", dir, other[db])
		}
		for _, np := range b.NetworkPolicies {
			if np.Name == other[db] {
				t.Errorf("%s: a NetworkPolicy %s remains", dir, np.Name)
			}
		}
		var cfg map[string]string
		for _, c := range b.ConfigMaps {
			if strings.HasPrefix(c.Name, "keygate-authd") {
				cfg = c.Data
			}
		}
		want := map[string]string{"DB_DRIVER": db, "DB_HOST": db, "DB_PORT": strconv.Itoa(int(port))}
		for k, v := range want {
			if cfg[k] != v {
				t.Errorf("%s: keygate-authd %s = %q, want %q (authd and the migration Job read it)", dir, k, cfg[k], v)
			}
		}
		if len(b.CronJobs) != 1 || b.CronJobs[0].Name != "keygate-backup" {
			t.Fatalf("%s: %d CronJobs, want the one keygate-backup", dir, len(b.CronJobs))
		}
		pod := b.CronJobs[0].Spec.JobTemplate.Spec.Template.Spec
		c := pod.Containers[0]
		script := strings.Join(append(append([]string{}, c.Command...), c.Args...), " ")
		if c.Image != image {
			t.Errorf("%s: backup image %s, want the server's %s (the dump tool of its major version)", dir, c.Image, image)
		}
		if !strings.Contains(script, dumpTool[db]+" ") || !strings.Contains(script, "--host="+db) {
			t.Errorf("%s: backup script does not run %s --host=%s:\n%s", dir, dumpTool[db], db, script)
		}
		var pw bool
		for _, e := range c.Env {
			if e.Name == passwordVar[db] && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil &&
				e.ValueFrom.SecretKeyRef.Name == "keygate-db" && e.ValueFrom.SecretKeyRef.Key == "DB_PASSWORD" {
				pw = true
			}
		}
		if !pw {
			t.Errorf("%s: backup container lacks %s from the keygate-db Secret's DB_PASSWORD", dir, passwordVar[db])
		}
		var claim string
		for _, v := range pod.Volumes {
			if v.PersistentVolumeClaim != nil {
				claim = v.PersistentVolumeClaim.ClaimName
			}
		}
		var found bool
		for _, p := range b.PVCs {
			found = found || p.Name == claim
		}
		if claim == "" || !found {
			t.Errorf("%s: backup writes to volume claim %q, which the kustomization does not create", dir, claim)
		}
	}
}
