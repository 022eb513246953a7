package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/seentest"
)

// smallDisk mounts a tmpfs of size bytes and returns its path; it skips the
// test where that is not possible (not root, no mount permission).
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (the disk-full tests run as root in CI)")
	}
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// seenProc is `seen serve` as a child whose stderr the test reads.
type seenProc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
	err    error // the exit, once done is closed
}

func startSeen(t *testing.T, dir, addr string) *seenProc {
	t.Helper()
	p := &seenProc{stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(seentest.Binary(t), "serve")
	p.cmd.Env = append(os.Environ(), "SEEN_LISTEN="+addr, "SEEN_DATA="+dir,
		"SEEN_ADMIN_KEY="+seentest.AdminKey, "SEEN_TOKEN_SECRET="+seentest.TokenSecret, "SEEN_DEMO=off")
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill() // by PID; a no-op once it has exited
		<-p.done
	})
	return p
}

// exited waits (up to a minute, a bound for a hang, not a timing claim)
// for the process to end and returns its exit code.
func (p *seenProc) exited(t *testing.T, what string) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatalf("%s: seen still runs after a minute; its log ends:\n%s", what, tail(p.stderr.String(), 2000))
	}
	var ee *exec.ExitError
	if p.err == nil {
		return 0
	}
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	t.Fatalf("%s: wait: %v", what, p.err)
	return -1
}

// adminPost posts body to the admin API at addr; unlike seentest.Admin it
// returns a connection error, which is expected while a server starts or
// stops.
func adminPost(addr, path, body string) (int, error) {
	req, err := http.NewRequest("POST", "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+seentest.AdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// fillDisk runs a server on a small disk until the disk fills and the
// server stops, as it must once a WAL write fails. It returns the data
// directory, still on the full disk.
func fillDisk(t *testing.T) string {
	t.Helper()
	data := filepath.Join(smallDisk(t, 4<<20), "data")
	addr := seentest.FreeAddr(t)
	p := startSeen(t, data, addr)
	seentest.Eventually(t, 30*time.Second, func() error {
		if _, err := os.Stat(filepath.Join(data, "store", "LOCK")); err != nil {
			return err
		}
		code, err := adminPost(addr, "/v1/admin/users", `{"userId":"alice"}`)
		if err == nil && code/100 != 2 {
			err = fmt.Errorf("POST users = %d", code)
		}
		return err
	})
	select {
	case <-p.done:
		t.Fatalf("seen stopped before the disk filled: %v; log:\n%s", p.err, tail(p.stderr.String(), 3000))
	default:
	}
	seentest.Admin(t, "http://"+addr, seentest.AdminKey, "POST", "/v1/admin/users", map[string]string{"userId": "bob"})
	// Leave no room, then write until the server gives up.
	filler, err := os.Create(filepath.Join(filepath.Dir(data), "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := filler.Write(chunk); err != nil {
			break
		}
	}
	filler.Close()
	body := strings.Repeat("x", 30000)
	for i := 0; ; i++ {
		select {
		case <-p.done:
		default:
			// Errors are expected: the server stops mid-way.
			_, _ = adminPost(addr, "/v1/admin/messages", fmt.Sprintf(
				`{"from":"alice","conversation":{"type":"peer","id":"bob"},"clientMsgId":"m%d","body":%q}`, i, body))
			if i < 1000 {
				continue
			}
		}
		break
	}
	if code := p.exited(t, "the disk-full run"); code == 0 {
		t.Fatalf("the disk-full run exited 0; log:\n%s", tail(p.stderr.String(), 2000))
	}
	return data
}

// TestRestartOnAFullDiskFailsFast checks that starting on a disk that is
// still full exits at once, non-zero, saying why, rather than retrying a
// flush forever without serving or heeding SIGTERM.
func TestRestartOnAFullDiskFailsFast(t *testing.T) {
	data := fillDisk(t)
	p := startSeen(t, data, seentest.FreeAddr(t))
	code := p.exited(t, "a start on the full disk")
	log := p.stderr.String()
	if code == 0 {
		t.Errorf("exit code = 0, want non-zero so a supervisor sees a failed service")
	}
	if !strings.Contains(log, "no space left on device") {
		t.Errorf("the log does not say the disk is full:\n%s", tail(log, 2000))
	}
	if n := strings.Count(log, "\n"); n > 50 {
		t.Errorf("the failed start wrote %d log lines, want a few:\n%s", n, tail(log, 2000))
	}
}

// TestSIGTERMStopsAStartOnAFullDisk checks that SIGTERM stops a server
// whatever it is doing while it starts on a full disk.
func TestSIGTERMStopsAStartOnAFullDisk(t *testing.T) {
	data := fillDisk(t)
	p := startSeen(t, data, seentest.FreeAddr(t))
	// Once it has started to open the store (or already gave up).
	seentest.Eventually(t, 30*time.Second, func() error {
		select {
		case <-p.done:
			return nil
		default:
		}
		if !strings.Contains(p.stderr.String(), "component=pebble") {
			return errors.New("not opening the store yet")
		}
		return nil
	})
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.exited(t, "SIGTERM during a start on the full disk"); code == 0 {
		t.Errorf("exit code = 0, want non-zero: the server never served")
	}
}
