package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Setting describes one leaf field of Config under each of the names a
// user may set it by. All of them derive from the field's koanf tag, so
// the config file, the environment, the flags, --help and README.md's
// table cannot drift apart.
type Setting struct {
	Key    string // in the config file, dotted for nested sections: receipts.ttl
	Env    string // SEEN_RECEIPTS_TTL
	Flag   string // receipts-ttl (without the dashes)
	Help   string // the field's help tag
	Secret bool   // redacted when the configuration is shown
	Type   reflect.Type
	index  []int
}

// Value returns the setting's value in c.
func (s Setting) Value(c *Config) any {
	return reflect.ValueOf(c).Elem().FieldByIndex(s.index).Interface()
}

// Format returns the setting's value in c as a user would write it in the
// environment or a flag; "" for an empty value. Secrets are not redacted:
// see Redacted.
func (s Setting) Format(c *Config) string {
	switch v := s.Value(c).(type) {
	case time.Duration:
		return v.String()
	case []string:
		return strings.Join(v, ",")
	case []int:
		parts := make([]string, len(v))
		for i, n := range v {
			parts[i] = strconv.Itoa(n)
		}
		return strings.Join(parts, ",")
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// Redacted is Format with a secret's value replaced by "(set)" or "".
func (s Setting) Redacted(c *Config) string {
	v := s.Format(c)
	if s.Secret && v != "" {
		return "(set)"
	}
	return v
}

// EnvPrefix starts every environment variable that configures the server.
const EnvPrefix = "SEEN_"

var settings = sync.OnceValue(func() []Setting {
	var out []Setting
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("koanf")
			if tag == "" || !f.IsExported() {
				panic(fmt.Sprintf("config: field %s has no koanf tag", f.Name))
			}
			idx := append(slices.Clone(index), i)
			key := prefix + tag
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, key+".", idx)
				continue
			}
			flat := strings.ReplaceAll(key, ".", "_")
			out = append(out, Setting{
				Key:    key,
				Env:    EnvPrefix + strings.ToUpper(flat),
				Flag:   strings.ReplaceAll(flat, "_", "-"),
				Help:   f.Tag.Get("help"),
				Secret: f.Tag.Get("secret") == "true",
				Type:   f.Type,
				index:  idx,
			})
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return out
})

// Settings lists every leaf field of Config, in declaration order.
func Settings() []Setting { return slices.Clone(settings()) }

// Lookup returns the setting with the given key.
func Lookup(key string) (Setting, bool) {
	for _, s := range settings() {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

// Nearest returns the candidate closest to name by edit distance, or ""
// when none is close enough to be a plausible typo (more than a third of
// the name's letters differ).
func Nearest(name string, candidates []string) string {
	best, bestD := "", len(name)/3+1
	for _, c := range candidates {
		if d := levenshtein(strings.ToLower(name), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// levenshtein is the edit distance between a and b (insertions, deletions,
// substitutions), over bytes: setting names are ASCII.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Parse sets the setting in c from raw: a string from the environment or
// a flag, or a value the YAML parser produced (a number, a list). The
// error says what was expected, without the setting's name, which the
// caller knows as the user wrote it.
func (s Setting) Parse(c *Config, raw any) error {
	field := reflect.ValueOf(c).Elem().FieldByIndex(s.index)
	switch s.Type {
	case reflect.TypeFor[[]string]():
		list, err := parseList(raw)
		if err != nil {
			return err
		}
		field.Set(reflect.ValueOf(list))
		return nil
	case reflect.TypeFor[[]int]():
		strs, err := parseList(raw)
		if err != nil {
			return err
		}
		list := make([]int, 0, len(strs))
		for _, e := range strs {
			n, err := strconv.Atoi(e)
			if err != nil {
				return fmt.Errorf("want a comma-separated list of whole numbers, got %q in %v", e, raw)
			}
			list = append(list, n)
		}
		field.Set(reflect.ValueOf(list))
		return nil
	}
	switch raw.(type) {
	case map[string]any, []any, nil:
		return fmt.Errorf("want a single value, got %v", raw)
	}
	str := strings.TrimSpace(fmt.Sprint(raw))
	if s.Type == reflect.TypeFor[time.Duration]() {
		d, err := time.ParseDuration(str)
		if err != nil {
			return fmt.Errorf("want a duration such as 10s, 1m30s or 250ms, got %q", str)
		}
		field.SetInt(int64(d))
		return nil
	}
	switch s.Type.Kind() {
	case reflect.String:
		field.SetString(fmt.Sprint(raw))
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(str, 10, s.Type.Bits())
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", str)
		}
		field.SetInt(n)
	case reflect.Uint64:
		n, err := strconv.ParseUint(str, 10, 64)
		if err != nil {
			return fmt.Errorf("want a whole number not below 0, got %q", str)
		}
		field.SetUint(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return fmt.Errorf("want a number, got %q", str)
		}
		field.SetFloat(f)
	case reflect.Bool:
		b, err := strconv.ParseBool(str)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", str)
		}
		field.SetBool(b)
	default:
		return fmt.Errorf("config: setting %s has type %v, which cannot be parsed", s.Key, s.Type)
	}
	return nil
}

// parseList reads a list setting: a comma-separated string (environment,
// flag) or a YAML sequence of scalars.
func parseList(raw any) ([]string, error) {
	var list []string
	switch v := raw.(type) {
	case string:
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				list = append(list, e)
			}
		}
	case []any:
		for _, e := range v {
			if _, isMap := e.(map[string]any); isMap || e == nil {
				return nil, fmt.Errorf("want a list of strings, got %v", raw)
			}
			list = append(list, fmt.Sprint(e))
		}
	default:
		return nil, fmt.Errorf("want a comma-separated list, got %v", raw)
	}
	return list, nil
}
