// Command jsonack repeats the JSON work the server does for one
// message.read request and its response, n times, for instruction counts
// under cachegrind (scripts/instructions-per-ack.sh measures the whole ack;
// this isolates the JSON of it). The work is what internal/transport/ws
// and internal/service do per request: validate the frame, decode the
// envelope and the method, decode the params, encode the result and the
// response. Run it twice with different -n and divide the difference.
//
//	go build -o /tmp/jsonack ./scripts/jsonack
//	valgrind --tool=cachegrind --cache-sim=no /tmp/jsonack -n 100000
//
// Built with GOEXPERIMENT=jsonv2, encoding/json runs on the v2
// implementation, and -api v2 uses encoding/json/v2's own API instead.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/seen-im/seen/internal/service"
	"github.com/seen-im/seen/protocol"
)

// frame is a message.read of one id as the Go SDK sends it.
var frame = []byte(`{"jsonrpc":"2.0","id":12345,"method":"message.read","params":{"conversation":{"type":"group","id":"ipa-g"},"msgIds":["01JDXQ4Z8K2M3N4P5Q6R7S8T9V"]}}`)

// envelope is the request envelope as internal/transport/ws decodes it.
type envelope struct {
	JSONRPC json.RawMessage `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  json.RawMessage `json:"method"`
	Params  json.RawMessage `json:"params"`
}

// v1 is the server's JSON work for one request with encoding/json's API.
func v1() ([]byte, error) {
	if !json.Valid(frame) {
		return nil, fmt.Errorf("invalid frame")
	}
	var env envelope
	if err := json.Unmarshal(frame, &env); err != nil {
		return nil, err
	}
	var method string
	if err := json.Unmarshal(env.Method, &method); err != nil {
		return nil, err
	}
	var p protocol.ReadParams
	if pe := service.DecodeParams(env.Params, &p); pe != nil {
		return nil, pe
	}
	res, err := json.Marshal(protocol.ReadResult{Read: len(p.MsgIDs)})
	if err != nil {
		return nil, err
	}
	return json.Marshal(protocol.Response{JSONRPC: protocol.Version, ID: env.ID, Result: res})
}

// apis are the implementations; v2.go adds "v2" under GOEXPERIMENT=jsonv2.
var apis = map[string]func() ([]byte, error){"v1": v1}

func main() {
	n := flag.Int("n", 100000, "requests to decode and answer")
	api := flag.String("api", "v1", "v1: encoding/json's API; v2: encoding/json/v2's (GOEXPERIMENT=jsonv2 builds only)")
	flag.Parse()
	f := apis[*api]
	if f == nil {
		fmt.Fprintf(os.Stderr, "jsonack: no api %q in this build\n", *api)
		os.Exit(2)
	}
	var out []byte
	for range *n {
		var err error
		if out, err = f(); err != nil {
			fmt.Fprintln(os.Stderr, "jsonack:", err)
			os.Exit(1)
		}
	}
	fmt.Printf("%s\n", out)
}
