// Package web holds the browser demo that `seen serve` serves at /: plain
// HTML and CSS, the demo bundled from its TypeScript sources in web/src, and
// an ES module build of the TypeScript SDK (sdk/js), all embedded so the
// binary needs nothing beside it.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Static returns the demo's files, rooted at the demo's index.html.
func Static() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	return sub
}
