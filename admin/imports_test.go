package admin

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps the package importable by app servers without the
// server: protocol, the JWT library and the standard library only.
func TestImports(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/seen-im/seen/"
	for _, pkg := range strings.Fields(string(out)) {
		first, _, _ := strings.Cut(pkg, "/")
		switch {
		case pkg == module+"admin", pkg == module+"protocol":
		case strings.HasPrefix(pkg, "github.com/golang-jwt/jwt/v5"):
		case strings.Contains(first, "."):
			t.Errorf("admin depends on %s: only protocol, jwt and the standard library are allowed", pkg)
		}
	}
}
