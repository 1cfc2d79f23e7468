package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/pgtest"
	"github.com/observable-code/observable/internal/syncbuf"
)

// Schema changes are tested by upgrading a database that the previous
// release's binary made through its own HTTP API. upgradeFromCommit is the
// last commit before migration 0002; a later migration adds its own
// commit here and its own checks to upgradeCheck.
const upgradeFromCommit = "9630ca7"

var upgradeBuilds sync.Map // commit -> *upgradeBuild

type upgradeBuild struct {
	once sync.Once
	path string
	err  error
}

// upgradeOldBinary builds the server at commit, once per cache: in the
// repository's .tmp/old-servers/ (git-ignored), so later runs start at once.
// The source is exported with `git archive` into a temporary directory:
// unlike a worktree it leaves nothing in the shared checkout's .git.
func upgradeOldBinary(t *testing.T, commit string) string {
	t.Helper()
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("no git checkout here (%v): the upgrade test builds the server at commit %s from its history", err, commit)
	}
	repo := strings.TrimSpace(string(root))
	if err := exec.Command("git", "-C", repo, "cat-file", "-e", commit+"^{commit}").Run(); err != nil {
		t.Skipf("commit %s is not in this checkout's history (a shallow clone?): fetch it to run the upgrade test", commit)
	}
	v, _ := upgradeBuilds.LoadOrStore(commit, &upgradeBuild{})
	b := v.(*upgradeBuild)
	b.once.Do(func() {
		cache := filepath.Join(repo, ".tmp", "old-servers")
		b.path = filepath.Join(cache, "observable-server-"+commit)
		if _, err := os.Stat(b.path); err == nil {
			return
		}
		src, err := os.MkdirTemp("", "observable-old-src-")
		if err != nil {
			b.err = err
			return
		}
		defer os.RemoveAll(src)
		archive := exec.Command("git", "-C", repo, "archive", "--format=tar", commit)
		untar := exec.Command("tar", "-x", "-C", src)
		untar.Stdin, _ = archive.StdoutPipe()
		// Two processes write their errors at once: one locked buffer.
		var errs syncbuf.Buffer
		archive.Stderr, untar.Stderr = &errs, &errs
		if err := untar.Start(); err != nil {
			b.err = err
			return
		}
		if err := archive.Run(); err != nil {
			b.err = fmt.Errorf("git archive %s: %v %s", commit, err, errs.String())
			return
		}
		if err := untar.Wait(); err != nil {
			b.err = fmt.Errorf("untar %s: %v %s", commit, err, errs.String())
			return
		}
		if err := os.MkdirAll(cache, 0o755); err != nil {
			b.err = err
			return
		}
		tmp := b.path + ".tmp" + fmt.Sprint(os.Getpid())
		build := exec.Command("go", "build", "-o", tmp, "./cmd/observable-server")
		build.Dir = src
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build the server at %s: %v\n%s", commit, err, out)
			return
		}
		b.err = os.Rename(tmp, b.path) // atomic: two runs never share a half-written binary
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// upgradeRun starts bin on db and waits until it is ready.
func upgradeRun(t *testing.T, bin, db string) *serverProc {
	t.Helper()
	port := freePort(t)
	p := &serverProc{proc: &proc{t: t, port: port, db: db, url: "http://127.0.0.1:" + port, log: &bytes.Buffer{}}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "--listen", "127.0.0.1:"+port, "--database", db, "--public-url", p.url,
		"--sessions-per-minute", "0", "--session-rate", "0")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.stop() })
	awaitReady(t, 30*time.Second, p)
	return p
}

// upgradeData is what the old binary stored, for upgradeCheck to find.
type upgradeData struct {
	key, device string
	jobs        []string
	events      int
}

// upgradeMake has the old binary make a database through its HTTP API: a
// session with a paired device, events of two jobs, one of them failed.
func upgradeMake(t *testing.T, oldBin, db string) upgradeData {
	t.Helper()
	old := upgradeRun(t, oldBin, db)
	key, code := newSession(t, old)
	d := upgradeData{key: key, device: claimPairing(t, old, code), jobs: []string{"backup", "report"}}
	for i, st := range []string{"completed", "failed", "completed"} {
		postEvent(t, old, key, fmt.Sprint("b", i), "backup", st)
		d.events++
	}
	postEvent(t, old, key, "r0", "report", "completed")
	d.events++
	if r := old.stop(); strings.Contains(r, "panic") {
		t.Fatalf("the old server: %s", r)
	}
	return d
}

// upgradeCheck starts the new binary on the old database and checks that
// everything is still there and the new features work on it.
func upgradeCheck(t *testing.T, db string, d upgradeData) {
	t.Helper()
	p := upgradeRun(t, binary, db)
	var sess struct {
		Paired  bool   `json:"paired"`
		PingKey string `json:"ping_key"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/session", d.key, "", &sess)
	if !sess.Paired || sess.PingKey == "" {
		t.Fatalf("the old session after the upgrade: %+v", sess)
	}
	var events struct {
		Events []struct{ Name string } `json:"events"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/events", d.device, "", &events) // the old device token
	if len(events.Events) != d.events {
		t.Fatalf("%d events after the upgrade, want %d", len(events.Events), d.events)
	}
	var jobs struct {
		Jobs []struct {
			Name     string `json:"name"`
			Runs     int    `json:"runs"`
			Failures int    `json:"failures"`
			PingURL  string `json:"ping_url"`
		} `json:"jobs"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/jobs", d.key, "", &jobs)
	if len(jobs.Jobs) != len(d.jobs) {
		t.Fatalf("jobs after the upgrade: %+v", jobs)
	}
	for _, j := range jobs.Jobs {
		if j.Name == "backup" && j.Failures != 1 {
			t.Errorf("backup's history after the upgrade: %+v", j)
		}
		if j.Name != "backup" {
			continue
		}
		// An old job's ping URL works: a start/end pair gives a run with a duration.
		for _, suffix := range []string{"/start", "/0"} {
			if r := callAPI("POST", j.PingURL+suffix, "", ""); r.status != http.StatusOK {
				t.Fatalf("ping %s%s: %d %s", j.PingURL, suffix, r.status, r.body)
			}
		}
	}
	// And the published SDK's routes work on the old session.
	mustCall(t, http.StatusAccepted, "POST", p.url+"/api/events", d.key, `{"name":"report","status":"failed","error_type":"E","error_message":"m"}`, nil)
	var st struct {
		Status string `json:"status"`
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/sessions/"+d.key+"/status", "", "", &st)
	if st.Status != "paired" {
		t.Errorf("old session's status: %+v", st)
	}
	mustCall(t, http.StatusOK, "GET", p.url+"/api/v1/events?name=backup&limit=2", d.key, "", &events)
	if len(events.Events) != 2 {
		t.Errorf("the pings of the old job: %+v", events)
	}
}

func TestUpgradeSQLite(t *testing.T) {
	oldBin := upgradeOldBinary(t, upgradeFromCommit)
	db := filepath.Join(t.TempDir(), "old.sqlite")
	upgradeCheck(t, db, upgradeMake(t, oldBin, db))
}

func TestUpgradePostgres(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) == "" {
		if _, err := exec.LookPath("pg_ctl"); err != nil {
			t.Skipf("no PostgreSQL: set %s (scripts/postgres.sh start) to run the upgrade on PostgreSQL", pgtest.EnvURL)
		}
	}
	oldBin := upgradeOldBinary(t, upgradeFromCommit)
	db := pgtest.NewDatabase(t)
	upgradeCheck(t, db, upgradeMake(t, oldBin, db))
}
