package region_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"golang.org/x/sys/unix"

	"github.com/keygate/keygate/test/apptest"
	"github.com/keygate/keygate/test/containers"
)

var figures = flag.Bool("figures", false, "measure the figures of deploy/README.md (200 logouts at 40 ms and 80 ms one way, a 30 s cut) instead of the short run")

// Addresses of the emulated network. The WAN is a point-to-point TUN link; each region also
// has a veth to this host (no delay) through which the test drives it, as clients in that
// region would.
const (
	wanA     = "10.213.0.1"
	wanB     = "10.213.0.2"
	hostA    = "10.213.1.1" // this host's end of the link to region A
	insideA  = "10.213.1.2" // region A's end
	hostB    = "10.213.2.1"
	insideB  = "10.213.2.2"
	dbPass   = "region-test-db-password"
	issuer   = "http://localhost:8080" // one issuer for both regions (a nominal URL: verifiers get KEYGATE_JWKS_URL)
	label    = "org.keygate.test.region"
	password = "correct horse battery"
)

var (
	refreshSecret = "region-test-refresh-secret-0123456789abcdef"
	kek           = base64.StdEncoding.EncodeToString([]byte("region-test-kek-32-bytes-long!!!"))
)

// bins are authd and ordersd, built once per test process.
var bins = apptest.NewBinaries("authd", "ordersd")

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	bins.Remove()
	os.Exit(code)
}

func binary(t *testing.T, name string) string { return bins.Path(t, name) }

// skipOrFail skips t because of reason, or fails it under KEYGATE_REQUIRE_DOCKER=1.
func skipOrFail(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv(containers.EnvRequireDocker) == "1" {
		t.Fatalf("region: %s and %s=1", reason, containers.EnvRequireDocker)
	}
	t.Skipf("region: %s; run as root with Docker and the testbed images (%s)", reason, containers.HowToEnable)
}

// requireNetAdmin skips (or fails) t unless this process can make namespaces' links: root,
// /dev/net/tun, ip and nsenter.
func requireNetAdmin(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "not root (the test makes network links between namespaces)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		skipOrFail(t, fmt.Sprintf("no TUN device (%v)", err))
	}
	for _, tool := range []string{"ip", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, fmt.Sprintf("no %s command (iproute2, util-linux)", tool))
		}
	}
	containers.RequireDocker(t)
}

// run runs a command to completion and fails t on error.
func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// in runs a command in the network namespace of pid.
func in(t *testing.T, pid int, args ...string) string {
	t.Helper()
	return run(t, append([]string{"nsenter", "-t", strconv.Itoa(pid), "-n", "--"}, args...)...)
}

// names are this process's interface names: short (15 bytes at most) and carrying the pid, so
// that sweep can tell a dead run's leftovers from a live one's.
func names(suffix string) string { return fmt.Sprintf("kgr%d%s", os.Getpid(), suffix) }

var linkName = regexp.MustCompile(`^\d+: (kgr(\d+)[a-z]+)[@:]`)

// sweep removes what a killed run of this test left behind: host links whose pid is dead and
// containers labelled with a dead pid. (A run that ends normally removes its own in
// t.Cleanup.)
func sweep(t *testing.T) {
	t.Helper()
	out, _ := exec.Command("ip", "-o", "link", "show").Output()
	for _, line := range strings.Split(string(out), "\n") {
		m := linkName.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if pid, _ := strconv.Atoi(m[2]); pid != os.Getpid() && syscall.Kill(pid, 0) != nil {
			_ = exec.Command("ip", "link", "del", m[1]).Run()
		}
	}
	ids, _ := exec.Command("docker", "ps", "-aq", "--filter", "label="+label).Output()
	for _, id := range strings.Fields(string(ids)) {
		pidLabel, _ := exec.Command("docker", "inspect", "-f", "{{index .Config.Labels \""+label+"\"}}", id).Output()
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(pidLabel))); pid != os.Getpid() && syscall.Kill(pid, 0) != nil {
			_ = exec.Command("docker", "rm", "-f", id).Run()
		}
	}
}

// startContainer runs img with cmd and env in network mode netMode ("none": a namespace of
// its own with only loopback; "container:ID": that container's), terminated in t.Cleanup,
// and returns it with the pid of its first process.
func startContainer(t *testing.T, img string, cmd []string, env map[string]string, netMode, waitLog string) (*containers.Container, int) {
	t.Helper()
	containers.RequireImage(t, img)
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithCmd(cmd...),
		testcontainers.WithEnv(env),
		testcontainers.WithLabels(map[string]string{label: strconv.Itoa(os.Getpid())}),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.NetworkMode = container.NetworkMode(netMode)
		}),
	}
	if waitLog != "" {
		opts = append(opts, testcontainers.WithWaitStrategy(wait.ForLog(waitLog).WithStartupTimeout(2*time.Minute)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := testcontainers.Run(ctx, img, opts...)
	if c != nil {
		t.Cleanup(func() {
			if err := testcontainers.TerminateContainer(c); err != nil {
				t.Logf("region: terminate %s: %v", img, err)
			}
		})
	}
	if err != nil {
		t.Fatalf("region: start %s: %v", img, err)
	}
	info, err := c.Inspect(ctx)
	if err != nil || info.State == nil || info.State.Pid == 0 {
		t.Fatalf("region: inspect %s: %v", img, err)
	}
	return &containers.Container{Container: c}, info.State.Pid
}

// hostLink joins this host to the namespace of pid by a veth: hostIP here, nsIP there.
func hostLink(t *testing.T, pid int, suffix, hostIP, nsIP string) {
	t.Helper()
	here, there := names("h"+suffix), names("x"+suffix)
	run(t, "ip", "link", "add", here, "type", "veth", "peer", "name", there)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", here).Run() }) // gone already if the namespace died
	run(t, "ip", "link", "set", there, "netns", strconv.Itoa(pid))
	run(t, "ip", "addr", "add", hostIP+"/24", "dev", here)
	run(t, "ip", "link", "set", here, "up")
	in(t, pid, "ip", "addr", "add", nsIP+"/24", "dev", there)
	in(t, pid, "ip", "link", "set", there, "up")
}

// wan is the emulated link between the regions: a TUN device in each namespace, and this
// process relaying every IP packet from one to the other after the one-way delay, dropping
// each with probability loss (1: the link is cut). The kernel of these machines has no netem
// qdisc, so the relay is netem's "delay D loss P" in user space, applied in both directions.
type wan struct {
	delay   atomic.Int64  // nanoseconds
	loss    atomic.Uint64 // math.Float64bits is not needed: parts per million
	relayed atomic.Int64
	dropped atomic.Int64
}

// set changes the delay and the loss of both directions at once (packets already queued keep
// their delay).
func (w *wan) set(delay time.Duration, loss float64) {
	w.delay.Store(int64(delay))
	w.loss.Store(uint64(loss * 1e6))
}

// openTUN creates a TUN device (IP packets, no header) held by this process: it disappears
// when the file is closed.
func openTUN(t *testing.T, name string) *os.File {
	t.Helper()
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("region: open /dev/net/tun: %v", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		t.Fatal(err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		_ = unix.Close(fd)
		t.Fatalf("region: TUNSETIFF %s: %v", name, err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fd), name)
}

// newWAN makes the link between the namespaces of pidA (address wanA) and pidB (wanB) and
// relays until the test ends.
func newWAN(t *testing.T, pidA, pidB int) *wan {
	t.Helper()
	w := &wan{}
	var files []*os.File
	for _, end := range []struct {
		pid        int
		name       string
		self, peer string
	}{{pidA, names("wa"), wanA, wanB}, {pidB, names("wb"), wanB, wanA}} {
		f := openTUN(t, end.name)
		files = append(files, f)
		run(t, "ip", "link", "set", end.name, "netns", strconv.Itoa(end.pid))
		in(t, end.pid, "ip", "addr", "add", end.self, "peer", end.peer, "dev", end.name)
		in(t, end.pid, "ip", "link", "set", end.name, "up")
	}
	var wg sync.WaitGroup
	wg.Go(func() { w.relay(files[0], files[1]) })
	wg.Go(func() { w.relay(files[1], files[0]) })
	t.Cleanup(func() {
		for _, f := range files {
			_ = f.Close()
		}
		wg.Wait()
	})
	return w
}

// relay copies packets from one TUN to the other: each waits the delay set when it arrived
// (so order is kept) or is dropped.
func (w *wan) relay(from, to *os.File) {
	type packet struct {
		due time.Time
		b   []byte
	}
	queue := make(chan packet, 8192)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for p := range queue {
			time.Sleep(time.Until(p.due))
			_, _ = to.Write(p.b)
		}
	}()
	buf := make([]byte, 65536)
	for {
		n, err := from.Read(buf)
		if err != nil {
			break
		}
		if rand.Uint64N(1_000_000) < w.loss.Load() {
			w.dropped.Add(1)
			continue
		}
		select {
		case queue <- packet{due: time.Now().Add(time.Duration(w.delay.Load())), b: slices.Clone(buf[:n])}:
			w.relayed.Add(1)
		default:
			w.dropped.Add(1) // a full router queue drops too
		}
	}
	close(queue)
	<-done
}

// proc is one keygate binary running in a region's namespace.
type proc struct {
	*apptest.Process
	URL   string // from this host, over the region's host link
	Local string // from inside the region: http://127.0.0.1:<port>
	Admin string // where /metrics and the detailed /ready are: the admin listener if it logs one, else URL
}

var (
	servingLine = regexp.MustCompile(`"msg":"(\w+): serving","addr":"[^"]*:(\d+)"`)
	adminAttr   = regexp.MustCompile(`: serving","addr":"[^"]*","admin":"[^"]*:(\d+)"`)
)

// start runs bin as name in the namespace of pid, reached from here at host, with exactly env
// (plus PATH), and returns once it logs that it serves. It is stopped (SIGTERM, must exit 0)
// when the test ends, and killed with this process if that dies first.
func start(t *testing.T, pid int, host, name, bin string, env map[string]string) *proc {
	t.Helper()
	cmd := exec.Command("nsenter", "-t", strconv.Itoa(pid), "-n", "--", bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{Process: apptest.Start(t, name, cmd, env)}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if m := servingLine.FindStringSubmatch(p.Out.String()); m != nil {
			p.URL, p.Local = "http://"+host+":"+m[2], "http://127.0.0.1:"+m[2]
			p.Admin = p.URL
			if a := adminAttr.FindStringSubmatch(p.Out.String()); a != nil {
				p.Admin = "http://" + host + ":" + a[1]
			}
			return p
		}
		select {
		case <-p.Exited():
			t.Fatalf("%s exited before serving: %v\n%s", name, p.Err(), apptest.Tail(p.Out.String(), 30))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s logged no serving line within 2m:\n%s", name, apptest.Tail(p.Out.String(), 30))
		}
	}
}

// client drives the regions over HTTP.
type client struct{ http *http.Client }

func newClient() *client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	return &client{http: &http.Client{Timeout: 15 * time.Second, Transport: tr}}
}

type reply struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func (r reply) String() string {
	if r.err != nil {
		return "error " + r.err.Error()
	}
	return fmt.Sprintf("%d %s", r.status, strings.TrimSpace(string(r.body)))
}

func (c *client) do(t *testing.T, method, target, bearer, body string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		return reply{err: err}
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func credentials(email string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return string(b)
}

// login logs email in at base and returns the access token.
func (c *client) login(t *testing.T, base, email string) string {
	t.Helper()
	r := c.do(t, "POST", base+"/login", "", credentials(email))
	var doc struct {
		AccessToken string `json:"access_token"`
	}
	if r.status != http.StatusOK || json.Unmarshal(r.body, &doc) != nil || doc.AccessToken == "" {
		t.Fatalf("login %s at %s: %s", email, base, r)
	}
	return doc.AccessToken
}

// orders is the status GET /api/orders answers with at for the access token.
func (c *client) orders(t *testing.T, base, at string) reply {
	t.Helper()
	return c.do(t, "GET", base+"/api/orders", at, "")
}

// ready returns /ready's status code and overall status.
func (c *client) ready(t *testing.T, base string) (int, string) {
	t.Helper()
	r := c.do(t, "GET", base+"/ready", "", "")
	var doc struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(r.body, &doc)
	return r.status, doc.Status
}

// metric returns the sum of the samples of metric name in base's /metrics (-1 if it cannot
// be read).
func (c *client) metric(t *testing.T, base, name string) float64 {
	t.Helper()
	r := c.do(t, "GET", base+"/metrics", "", "")
	if r.status != http.StatusOK {
		return -1
	}
	var sum float64
	for _, line := range strings.Split(string(r.body), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(rest[strings.LastIndexByte(rest, ' ')+1:], &v); err == nil {
			sum += v
		}
	}
	return sum
}
