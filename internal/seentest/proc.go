package seentest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// Binary builds cmd/seen once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "seen-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "seen")
		out, err := exec.Command("go", "build", "-o", buildBin, "github.com/seen-im/seen/cmd/seen").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("seentest: %v", buildErr)
	}
	return buildBin
}

// Proc is a `seen serve` child process.
type Proc struct {
	t    testing.TB
	cmd  *exec.Cmd
	Addr string
	Dir  string
	done chan struct{}
	err  error // the process's exit, valid once done is closed
}

// FreeAddr returns a loopback address that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("seentest: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// StartProc runs `seen serve` on dir and addr with the test secrets and
// extra environment, and waits until /healthz answers. The process is
// killed when the test ends if it still runs.
func StartProc(t testing.TB, dir, addr string, env ...string) *Proc {
	t.Helper()
	cmd := exec.Command(Binary(t), "serve")
	cmd.Env = append(os.Environ(),
		"SEEN_LISTEN="+addr, "SEEN_DATA="+dir,
		"SEEN_ADMIN_KEY="+AdminKey, "SEEN_TOKEN_SECRET="+TokenSecret, "SEEN_LOG_LEVEL=warn")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("seentest: start seen: %v", err)
	}
	p := &Proc{t: t, cmd: cmd, Addr: addr, Dir: dir, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("seentest: seen exited before serving: %v", p.err)
		default:
		}
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("seentest: seen did not serve within 30s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WSURL is the process's client WebSocket URL.
func (p *Proc) WSURL() string { return "ws://" + p.Addr + "/v1/ws" }

// Kill sends SIGKILL and waits for the process to end.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Term sends SIGTERM and returns the process's exit error (nil for status 0).
func (p *Proc) Term() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("seentest: seen did not stop within 30s of SIGTERM")
	}
	return p.err
}

// Admin calls the process's admin API.
func (p *Proc) Admin(method, path string, body any) (int, []byte) {
	p.t.Helper()
	return Admin(p.t, "http://"+p.Addr, AdminKey, method, path, body)
}
