package jsonwalk

import (
	"encoding/json"
	"strings"
	"testing"
)

// scanDocument reports whether the scanner accepts b as one JSON text.
func scanDocument(b []byte) bool {
	i := Value(b, SkipSpace(b, 0), 0)
	return i >= 0 && SkipSpace(b, i) == len(b)
}

// scanCases are texts the scanner must judge as json.Valid does.
var scanCases = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `1.5e-3`, `-12E+4`, `true`, `false`, `null`, ` { "a" : [ 1 , "x" , { } ] } `,
	`{"a":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"}`, "\"\xff\"", `[1,2,[3,[4]]]`,
	`01`, `1.`, `.5`, `1e`, `1e+`, `-`, `+1`, `0x1`, `1.5.5`, `--1`, `tru`, `truex`, `nul`, `[true false]`,
	`{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a" 1}`, `{1:2}`, `"abc`, `"\x"`, `"\u12"`,
	`"\u12G4"`, "\"a\tb\"", "\"a\x00b\"", `{"a":1}}`, `[1]]`, `{"a":1} x`, `{} {}`, ``, ` `, `[`, `{`, `"`,
	strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
}

// The scanner agrees with json.Valid on valid and invalid texts alike,
// nesting within MaxDepth.
func TestScanMatchesJSONValid(t *testing.T) {
	for _, c := range scanCases {
		if got, want := scanDocument([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("scan(%q) = %v, json.Valid says %v", c, got, want)
		}
	}
}

// Deeper than MaxDepth the scanner refuses valid JSON.
func TestScanRefusesDeepNesting(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	if scanDocument([]byte(deep)) {
		t.Errorf("nesting %d deep accepted", MaxDepth+1)
	}
}

// FuzzScanMatchesJSONValid: the scanner never accepts what json.Valid
// refuses, and refuses what it accepts only past MaxDepth.
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
			end := Value(b, SkipSpace(b, 0), -10000)
			if end < 0 || SkipSpace(b, end) != len(b) {
				t.Fatalf("scan refuses %q, which json.Valid accepts", b)
			}
		}
	})
}
