//go:build goexperiment.jsonv2

package main

import (
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"fmt"

	"github.com/seen-im/seen/protocol"
)

// envelopeV2 is envelope with encoding/json/v2's raw value type.
type envelopeV2 struct {
	JSONRPC jsontext.Value `json:"jsonrpc"`
	ID      jsontext.Value `json:"id"`
	Method  string         `json:"method"`
	Params  jsontext.Value `json:"params"`
}

// responseV2 is protocol.Response with raw values of v2.
type responseV2 struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      jsontext.Value  `json:"id"`
	Result  jsontext.Value  `json:"result,omitempty"`
	Error   *protocol.Error `json:"error,omitempty"`
}

// v2 is the same work with encoding/json/v2's API: it validates while it
// decodes, so there is no separate Valid pass, and the method decodes
// with the envelope.
func v2() ([]byte, error) {
	var env envelopeV2
	if err := jsonv2.Unmarshal(frame, &env); err != nil {
		return nil, err
	}
	if env.Method == "" {
		return nil, fmt.Errorf("no method")
	}
	var p protocol.ReadParams
	if err := jsonv2.Unmarshal(env.Params, &p); err != nil {
		return nil, err
	}
	res, err := jsonv2.Marshal(protocol.ReadResult{Read: len(p.MsgIDs)})
	if err != nil {
		return nil, err
	}
	return jsonv2.Marshal(responseV2{JSONRPC: protocol.Version, ID: env.ID, Result: res})
}

func init() { apis["v2"] = v2 }
