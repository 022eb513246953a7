package main

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"

	"github.com/seen-im/seen/internal/config"
)

// nonConfigEnv lists the SEEN_* variables that are not server settings,
// so that `seen serve` does not take them for misspelt ones: the test
// harnesses and tools set them in environments a server is started from.
// Every SEEN_TEST_* variable belongs to the tests too (testEnvPrefix).
var nonConfigEnv = map[string]string{
	"SEEN_CONFIG":        "path of the config file, as --config",
	"SEEN_BIN":           "web and SDK tests: the seen binary to run",
	"SEEN_TEST_SKIP_WEB": "test.sh: skip the browser tests",
	"SEEN_CRASH_SEED":    "e2e crash test: the seed to replay",
	"SEEN_CRASH_CYCLES":  "e2e crash test: number of crash cycles",
	"SEEN_BENCH_URL":     "seen bench: the server's base URL",
	"SEEN_WS_URL":        "SDK examples: the server's WebSocket URL",
	"SEEN_TOKEN_A":       "SDK examples: a user token",
	"SEEN_TOKEN_B":       "SDK examples: another user token",
}

// testEnvPrefix starts the variables of the test suite (the private
// PostgreSQL's SEEN_TEST_POSTGRES_URL, say): never settings.
const testEnvPrefix = "SEEN_TEST_"

// configFlags declares one flag per setting, derived from config.Config's
// tags: --a-b for key a_b, --receipts-x-y for receipts.x_y.
func configFlags(fs *pflag.FlagSet) {
	for _, s := range config.Settings() {
		settingFlag(fs, s)
	}
}

// settingFlag declares the flag of one setting, typed so that pflag
// rejects a malformed value and --help shows the type and default.
func settingFlag(fs *pflag.FlagSet, s config.Setting) {
	d := config.Default()
	usage := s.Help + " (" + s.Env + ")"
	switch v := s.Value(&d).(type) {
	case time.Duration:
		fs.Duration(s.Flag, v, usage)
	case string:
		fs.String(s.Flag, v, usage)
	case []string:
		fs.String(s.Flag, strings.Join(v, ","), usage)
	case []int:
		fs.String(s.Flag, s.Format(&d), usage)
	case int:
		fs.Int(s.Flag, v, usage)
	case int64:
		fs.Int64(s.Flag, v, usage)
	case uint64:
		fs.Uint64(s.Flag, v, usage)
	case float64:
		fs.Float64(s.Flag, v, usage)
	case bool:
		fs.Bool(s.Flag, v, usage)
	default:
		panic(fmt.Sprintf("seen: setting %s has type %T, which has no flag type", s.Key, v))
	}
}

// settingFlagsByKey declares the flags of the named settings only.
func settingFlagsByKey(fs *pflag.FlagSet, keys ...string) {
	for _, k := range keys {
		s, ok := config.Lookup(k)
		if !ok {
			panic("seen: no setting " + k)
		}
		settingFlag(fs, s)
	}
}

const configFlagUsage = "YAML config file; its keys are the settings' names in lower case, receipts.* nested under receipts: (SEEN_CONFIG)"

// sources records, for each setting the user set, the name they set it by:
// "--receipts-ttl", "SEEN_RECEIPTS_TTL", or "receipts.ttl in seen.yaml".
type sources map[string]string

// name is what an error about key should call it: the name the user set
// it by, or, for a default, its environment variable.
func (src sources) name(key string) string {
	if n, ok := src[key]; ok {
		return n
	}
	if s, ok := config.Lookup(key); ok {
		return s.Env
	}
	return key
}

// loadOptions says how strict loadConfig is.
type loadOptions struct {
	// strictEnv makes an unknown SEEN_* variable an error. Only serve
	// sets it: the other commands read a few settings and let the rest be.
	strictEnv bool
	// noValidate skips config.Validate, for a command that reads a few
	// settings and checks them itself (migrate reads postgres_url without
	// being a node, so a node's rules, such as a shared token secret, are
	// not its own).
	noValidate bool
}

// loadConfig layers defaults < config file < SEEN_* environment < flags,
// then validates, naming each setting in errors as the user set it.
func loadConfig(fs *pflag.FlagSet, environ []string, opt loadOptions) (config.Config, sources, error) {
	src := sources{}
	raw := map[string]any{} // key → value, the last layer winning
	byEnv, byFlag, keys := map[string]config.Setting{}, map[string]config.Setting{}, []string{}
	for _, s := range config.Settings() {
		byEnv[s.Env], byFlag[s.Flag] = s, s
		keys = append(keys, s.Key)
	}
	env := map[string]string{}
	for _, kv := range environ {
		if name, value, _ := strings.Cut(kv, "="); strings.HasPrefix(name, config.EnvPrefix) {
			env[name] = value
		}
	}
	var errs []error

	path := env["SEEN_CONFIG"]
	if f := fs.Lookup("config"); f != nil && f.Changed {
		path = f.Value.String()
	}
	if path != "" {
		k := koanf.New(".")
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return config.Config{}, nil, fmt.Errorf("config file %s: %w", path, err)
		}
		for _, key := range k.Keys() {
			if _, ok := config.Lookup(key); ok {
				raw[key] = k.Get(key)
				src[key] = key + " in " + path
				continue
			}
			// "receipts:" with every entry commented out parses as null.
			if k.Get(key) == nil && slices.ContainsFunc(keys, func(s string) bool { return strings.HasPrefix(s, key+".") }) {
				continue
			}
			errs = append(errs, unknown(key, "in "+path, keys))
		}
	}

	names := make([]string, 0, len(env))
	for name := range env {
		names = append(names, name)
	}
	sort.Strings(names)
	envNames := make([]string, 0, len(byEnv))
	for name := range byEnv {
		envNames = append(envNames, name)
	}
	for _, name := range names {
		s, ok := byEnv[name]
		switch {
		case ok && env[name] == "":
			// An empty variable counts as unset, as a line emptied in a
			// unit file or a shell's VAR= means "not this".
		case ok:
			raw[s.Key] = env[name]
			src[s.Key] = name
		case opt.strictEnv && nonConfigEnv[name] == "" && !strings.HasPrefix(name, testEnvPrefix):
			errs = append(errs, unknown(name, "(from the environment)", envNames))
		}
	}

	fs.Visit(func(f *pflag.Flag) {
		if s, ok := byFlag[f.Name]; ok {
			raw[s.Key] = f.Value.String()
			src[s.Key] = "--" + f.Name
		}
	})

	cfg := config.Default()
	for _, s := range config.Settings() {
		v, ok := raw[s.Key]
		if !ok {
			continue
		}
		if err := s.Parse(&cfg, v); err != nil {
			errs = append(errs, fmt.Errorf("config: %s: %w", src[s.Key], err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return config.Config{}, nil, err
	}
	if opt.noValidate {
		return cfg, src, nil
	}
	if err := cfg.ValidateNamed(src.name); err != nil {
		return config.Config{}, nil, err
	}
	return cfg, src, nil
}

// unknown is the error for a name that is no setting, with the nearest
// known one when it looks like a typo of it.
func unknown(name, where string, known []string) error {
	msg := fmt.Sprintf("unknown setting %s %s", name, where)
	if near := config.Nearest(name, known); near != "" {
		msg += "; did you mean " + near + "?"
	}
	return errors.New(msg)
}

// showConfig lists the configuration in force for the start-up log, each
// setting by its key, secrets redacted.
func showConfig(cfg config.Config) []any {
	var attrs []any
	for _, s := range config.Settings() {
		attrs = append(attrs, s.Key, s.Redacted(&cfg))
	}
	return attrs
}
