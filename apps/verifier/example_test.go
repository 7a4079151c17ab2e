package verifier_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/keygate/keygate/apps/verifier"
	"github.com/keygate/keygate/test/apptest"
)

// A Go service verifies keygate tokens and follows revocations with the lines between the
// markers (README.md quotes them); its metrics and detailed readiness go on a second,
// internal listener. In production getenv is os.Getenv with KEYGATE_ISSUER and
// REDIS_ADDR set; here a fake authd stands in for the issuer and KEYGATE_DEV=1 for Redis.
func Example() {
	authd := apptest.NewIssuer(true)
	defer authd.Close()
	getenv := apptest.Getenv(map[string]string{"KEYGATE_ISSUER": authd.URL, "KEYGATE_DEV": "1"})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")      // the API's port
	adminLn, _ := net.Listen("tcp", "127.0.0.1:0") // reachable from monitoring only

	// service:begin
	v, err := verifier.NewFromEnv(getenv, "billing")
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	mux := http.NewServeMux()
	mux.Handle("/api/", v.RequireToken(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := verifier.Claims(r.Context())
		fmt.Fprintf(w, "hello %s", caller.Subject)
	})))
	mux.Handle("/ready", v.Ready()) // public: "ready" or "not ready", no detail
	go http.Serve(ln, mux)
	go http.Serve(adminLn, v.AdminHandler()) // /metrics, the detailed /ready
	// service:end

	call := func(path, bearer string) {
		base := "http://" + ln.Addr().String()
		if admin, ok := strings.CutPrefix(path, "admin"); ok {
			base, path = "http://"+adminLn.Addr().String(), admin
		}
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(strings.TrimSpace(fmt.Sprintln(path, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("WWW-Authenticate"))))
	}
	valid := authd.Sign("user-42", "sid-1", "billing")
	call("/api/invoices", valid) // the issuer has not answered yet: 503, never 200
	authd.Open()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = v.WaitLoaded(ctx)
	call("/ready", "")
	call("/metrics", "") // not on the API's port
	call("admin/metrics", "")
	call("/api/invoices", valid)
	call("/api/invoices", "not-a-token")
	call("/api/invoices", authd.Sign("user-42", "sid-1", "orders")) // another service's token
	// Output:
	// /api/invoices 503 5
	// /ready 200
	// /metrics 404
	// /metrics 200
	// /api/invoices 200
	// /api/invoices 401  Bearer error="invalid_token"
	// /api/invoices 401  Bearer error="invalid_token"
}
