// Command seen is the Seen messaging server: `seen serve` runs a node,
// `seen token` mints a user token, `seen migrate` copies an embedded data
// directory into PostgreSQL, `seen webhook listen` receives and prints
// webhook calls on a developer's machine, `seen version` prints the version.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version, if set at build time with -ldflags "-X main.version=...",
// replaces the module version Go records in the binary.
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "seen:", err)
		os.Exit(1)
	}
}
