package receipts

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// allowedImports are the only packages the engine's own (non-test) files may
// import: the engine stays pure, with no I/O, goroutines or clock.
var allowedImports = map[string]bool{
	"container/heap":  true,
	"encoding/base64": true,
	"encoding/binary": true,
	"errors":          true,
	"hash/crc32":      true,
	"slices":          true,
	// The ack rule the store applies too; pure as well (its own test
	// checks that it imports only the standard library).
	"github.com/seen-im/seen/internal/ackrule": true,
}

func TestImportsArePure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		test := strings.HasSuffix(name, "_test.go")
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			switch {
			case allowedImports[path] && !test:
			case strings.Contains(first, "."):
				t.Errorf("%s imports %s: the engine uses the standard library only", name, path)
			case !test && !allowedImports[path]:
				t.Errorf("%s imports %s: not in the engine's allowed imports", name, path)
			}
		}
	}
}

// TestSizes keeps MemoryBytes' constants honest.
func TestSizes(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are for 64-bit platforms")
	}
	if got := unsafe.Sizeof(member{}); got > sizeMember || got < sizeMember*8/10 {
		t.Errorf("member is %d bytes, sizeMember %d", got, sizeMember)
	}
	if got := unsafe.Sizeof(Ack{}); got != sizeAck {
		t.Errorf("Ack is %d bytes, sizeAck %d", got, sizeAck)
	}
	if got := unsafe.Sizeof(Tracked{}); got > sizeTracked {
		t.Errorf("Tracked is %d bytes, sizeTracked %d", got, sizeTracked)
	}
}
