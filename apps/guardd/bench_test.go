package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkAddedLatency compares one request to a service that verifies in process (the
// verifier's middleware) with the same request to a service that first asks guardd, over
// loopback HTTP with kept-alive connections, as a gateway would: the difference is what the
// sidecar adds per request (added-ns/req). Run with a -benchtime that is a multiple of 200x.
//
//	go test ./apps/guardd -run '^$' -bench AddedLatency -count 6
func BenchmarkAddedLatency(b *testing.B) {
	s := newSidecar(b, false)
	tok := s.authd.Sign("user-42", "sid-1", "billing")
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello") })

	inProcess := httptest.NewServer(s.v.RequireToken(hello))
	defer inProcess.Close()
	// The gateway: ask guardd, forward on 200 with the subject, else answer what guardd said.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), "GET", s.srv.URL+"/verify", nil)
		req.Header["Authorization"] = r.Header["Authorization"]
		resp, err := client.Do(req)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			w.WriteHeader(resp.StatusCode)
			return
		}
		r.Header.Set(HeaderSubject, resp.Header.Get(HeaderSubject))
		hello(w, r)
	}))
	defer gateway.Close()

	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	get := func(url string) {
		req, _ := http.NewRequest("GET", url+"/api/x", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	// Batches of 100 of each kind in turn, so both see the same machine.
	const batch = 100
	var spent [2]time.Duration
	var count [2]int
	urls := [2]string{inProcess.URL, gateway.URL}
	n := 0
	for b.Loop() {
		k := (n / batch) % 2
		start := time.Now()
		get(urls[k])
		spent[k] += time.Since(start)
		count[k]++
		n++
	}
	per := func(k int) float64 { return float64(spent[k].Nanoseconds()) / float64(max(1, count[k])) }
	b.ReportMetric(per(0), "in-process-ns/req")
	b.ReportMetric(per(1), "guardd-ns/req")
	b.ReportMetric(per(1)-per(0), "added-ns/req")
}
