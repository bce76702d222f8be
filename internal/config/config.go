// Package config loads a settings struct from defaults, a YAML file,
// BACKSEAL_* environment variables and command-line flags, in that order of
// precedence (flags win). One struct tag names a setting everywhere:
//
//	StallTimeout time.Duration `yaml:"stall_timeout" help:"..."`
//
// is key stall_timeout in YAML, BACKSEAL_STALL_TIMEOUT in the environment and
// --stall-timeout on the command line. Errors name the key.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix prefixes every environment variable.
const EnvPrefix = "BACKSEAL_"

// setting is one tagged field of the settings struct.
type setting struct {
	key   string // yaml key
	help  string
	field reflect.Value
}

func (s setting) flagName() string { return strings.ReplaceAll(s.key, "_", "-") }
func (s setting) envName() string  { return EnvPrefix + strings.ToUpper(s.key) }

func settings(dst any) ([]setting, error) {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, errors.New("config: destination must be a pointer to a struct")
	}
	v = v.Elem()
	var out []setting
	for i := range v.NumField() {
		f := v.Type().Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		out = append(out, setting{key: key, help: f.Tag.Get("help"), field: v.Field(i)})
	}
	return out, nil
}

// Flags registers one flag per setting on fs, plus --config, and returns a
// function that, after fs.Parse, applies file, environment and flags to dst.
// environ is os.Environ() in production.
func Flags(fs *flag.FlagSet, dst any, environ []string) (apply func() error, err error) {
	list, err := settings(dst)
	if err != nil {
		return nil, err
	}
	configFile := fs.String("config", "", "YAML config `file` (also "+EnvPrefix+"CONFIG)")
	given := map[string]string{}
	for _, s := range list {
		name := s.flagName()
		usage := fmt.Sprintf("%s (env %s, default %s)", s.help, s.envName(), format(s.field))
		if s.field.Kind() == reflect.Bool {
			fs.Func(name, usage, func(v string) error { given[s.key] = v; return nil })
			// Let "--flag" alone mean true, as for ordinary bool flags.
			fs.Lookup(name).Value = boolFlag{given: given, key: s.key}
			continue
		}
		fs.Func(name, usage, func(v string) error { given[s.key] = v; return nil })
	}
	return func() error {
		env := map[string]string{}
		for _, kv := range environ {
			if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
				env[k] = v
			}
		}
		file := *configFile
		if file == "" {
			file = env[EnvPrefix+"CONFIG"]
		}
		if file != "" {
			if err := loadFile(file, dst); err != nil {
				return err
			}
		}
		for _, s := range list {
			if v, ok := env[s.envName()]; ok {
				if err := set(s.field, v); err != nil {
					return fmt.Errorf("config: %s (from %s): %w", s.key, s.envName(), err)
				}
			}
		}
		for _, s := range list {
			if v, ok := given[s.key]; ok {
				if err := set(s.field, v); err != nil {
					return fmt.Errorf("config: %s (from --%s): %w", s.key, s.flagName(), err)
				}
			}
		}
		return nil
	}, nil
}

// boolFlag makes a bool setting behave like a standard bool flag.
type boolFlag struct {
	given map[string]string
	key   string
}

func (b boolFlag) String() string     { return "" }
func (b boolFlag) IsBoolFlag() bool   { return true }
func (b boolFlag) Set(v string) error { b.given[b.key] = v; return nil }

// loadFile decodes a YAML file into dst, rejecting unknown keys so that a
// typo fails at start instead of being silently ignored.
func loadFile(path string, dst any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil && !errors.Is(err, io.EOF) /* empty file */ {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	return nil
}

var durationType = reflect.TypeOf(time.Duration(0))

// set parses text into the field according to its type.
func set(f reflect.Value, text string) error {
	switch {
	case f.Type() == durationType:
		d, err := time.ParseDuration(text)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.String:
		f.SetString(text)
	case f.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case f.CanInt():
		// Base 10, not 0: "010" is ten, and 0x10 or 1_000 are mistakes.
		n, err := strconv.ParseInt(text, 10, f.Type().Bits())
		if err != nil {
			return intError(text, err)
		}
		f.SetInt(n)
	case f.CanUint():
		n, err := strconv.ParseUint(text, 10, f.Type().Bits())
		if err != nil {
			return intError(text, err)
		}
		f.SetUint(n)
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
		var items []string
		for item := range strings.SplitSeq(text, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		f.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("unsupported setting type %s", f.Type())
	}
	return nil
}

func intError(text string, err error) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("%q is out of range", text)
	}
	return fmt.Errorf("%q must be a decimal integer", text)
}

func format(f reflect.Value) string {
	switch {
	case f.Type() == durationType:
		return time.Duration(f.Int()).String()
	case f.Kind() == reflect.Slice:
		parts := make([]string, f.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(f.Index(i).Interface())
		}
		return `"` + strings.Join(parts, ",") + `"`
	case f.Kind() == reflect.String:
		return strconv.Quote(f.String())
	}
	return fmt.Sprint(f.Interface())
}
