package ws

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/seen-im/seen/internal/wordscan"
)

// scanDocument reports whether the scanner accepts b as one JSON text.
func scanDocument(b []byte) bool {
	i := scanValue(b, wordscan.SkipSpace(b, 0), 0)
	return i >= 0 && wordscan.SkipSpace(b, i) == len(b)
}

// scanCases are texts the scanner must judge as json.Valid does.
var scanCases = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `1.5e-3`, `-12E+4`, `true`, `false`, `null`, ` { "a" : [ 1 , "x" , { } ] } `,
	`{"a":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"}`, "\"\xff\"", `[1,2,[3,[4]]]`,
	`01`, `1.`, `.5`, `1e`, `1e+`, `-`, `+1`, `0x1`, `1.5.5`, `--1`, `tru`, `truex`, `nul`, `[true false]`,
	`{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a" 1}`, `{1:2}`, `"abc`, `"\x"`, `"\u12"`,
	`"\u12G4"`, "\"a\tb\"", "\"a\x00b\"", `{"a":1}}`, `[1]]`, `{"a":1} x`, `{} {}`, ``, ` `, `[`, `{`, `"`,
	strings.Repeat("[", maxScanDepth) + strings.Repeat("]", maxScanDepth),
}

// The scanner agrees with json.Valid on valid and invalid texts alike,
// nesting within maxScanDepth.
func TestScanMatchesJSONValid(t *testing.T) {
	for _, c := range scanCases {
		if got, want := scanDocument([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("scan(%q) = %v, json.Valid says %v", c, got, want)
		}
	}
}

// Deeper than maxScanDepth the scanner refuses valid JSON, which the
// envelope then leaves to encoding/json.
func TestScanRefusesDeepNesting(t *testing.T) {
	deep := strings.Repeat("[", maxScanDepth+1) + strings.Repeat("]", maxScanDepth+1)
	if scanDocument([]byte(deep)) {
		t.Errorf("nesting %d deep accepted", maxScanDepth+1)
	}
	frame := `{"jsonrpc":"2.0","id":1,"method":"m","params":` + deep + `}`
	id, req, pe := parseRequest([]byte(frame))
	if pe != nil || string(id) != "1" || req.Method != "m" || string(req.Params) != deep {
		t.Errorf("a deep request: id %s, method %q, error %v", id, req.Method, pe)
	}
}

// FuzzScanMatchesJSONValid: the scanner never accepts what json.Valid
// refuses, and refuses what it accepts only past maxScanDepth.
func FuzzScanMatchesJSONValid(f *testing.F) {
	for _, c := range scanCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, want := scanDocument(b), json.Valid(b)
		if got && !want {
			t.Fatalf("scan accepts %q, which json.Valid refuses", b)
		}
		if want && !got {
			// Allowed only where the nesting bound refused it: given
			// room for any depth json.Valid takes, the scanner accepts.
			end := scanValue(b, wordscan.SkipSpace(b, 0), -10000)
			if end < 0 || wordscan.SkipSpace(b, end) != len(b) {
				t.Fatalf("scan refuses %q, which json.Valid accepts", b)
			}
		}
	})
}
