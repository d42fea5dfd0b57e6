package config

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/atomicfile"
)

// Keys returns every key of the configuration, written section.key, in
// the order of the default file.
func Keys() []string { return slices.Clone(keys()) }

// keys reads the keys of the default file once.
var keys = sync.OnceValue(func() []string {
	var f File
	md, err := toml.Decode(string(defaultFile), &f)
	if err != nil {
		panic("built-in defaults: " + err.Error()) // a build error: tests catch it
	}
	// A table of a section (notify.smtp) is listed by its keys
	// (notify.smtp.host), which set one by one; an array of tables
	// (feeds.custom) as a whole.
	var out []string
	for _, k := range md.Keys() {
		switch {
		case len(k) == 2 && md.Type(k...) != "Hash":
			out = append(out, k.String())
		case len(k) == 3 && md.Type(k[:2]...) == "Hash":
			out = append(out, k.String())
		}
	}
	return out
})

// defaultValue is the default of key, as values reads it; the defaults
// are read once, and never changed.
func defaultValue(key string) (any, error) {
	if !slices.Contains(keys(), key) {
		return nil, fmt.Errorf("%s: unknown key (sipguard config get lists them)", key)
	}
	defaults, err := defaultValues()
	if err != nil {
		return nil, err
	}
	return lookup(defaults, key)
}

var defaultValues = sync.OnceValues(func() (map[string]any, error) { return values(nil) })

// Effective returns the configuration that data gives, over the defaults,
// as sections of keys and values (strings, int64, bool, lists); data must
// be a valid configuration.
func Effective(data []byte) (map[string]any, error) {
	if _, err := Parse(data); err != nil {
		return nil, err
	}
	return values(data)
}

// values is data over the defaults, as sections of keys and values,
// without checking the values.
func values(data []byte) (map[string]any, error) {
	f, _, err := decode(data)
	if err != nil {
		return nil, err
	}
	text, err := toml.Marshal(f)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	_, err = toml.Decode(string(text), &out)
	return out, err
}

// Get returns the effective value of a key (section.key), or of a whole
// section, in the configuration data gives.
func Get(data []byte, key string) (any, error) {
	all, err := Effective(data)
	if err != nil {
		return nil, err
	}
	return lookup(all, key)
}

func lookup(all map[string]any, key string) (any, error) {
	var v any = all
	for name := range strings.SplitSeq(key, ".") {
		table, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: unknown key", key)
		}
		if v, ok = table[name]; !ok {
			return nil, fmt.Errorf("%s: unknown key", key)
		}
	}
	return v, nil
}

// splitKey cuts a key into its table (sip, or notify.smtp) and its name
// in the table.
func splitKey(key string) (table, name string) {
	i := strings.LastIndex(key, ".")
	return key[:i], key[i+1:]
}

// setValue sets key's value in a configuration's sections.
func setValue(all map[string]any, key string, v any) {
	table, name := splitKey(key)
	t := all
	for part := range strings.SplitSeq(table, ".") {
		next, ok := t[part].(map[string]any)
		if !ok {
			next = map[string]any{}
			t[part] = next
		}
		t = next
	}
	t[name] = v
}

// Format writes a value as the configuration file does: a string bare, a
// section as TOML, anything else as its TOML value.
func Format(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		text, _ := toml.Marshal(v)
		return string(text)
	}
	return tomlValue(v)
}

// tomlValue writes one value as TOML.
func tomlValue(v any) string {
	text, err := toml.Marshal(map[string]any{"v": v})
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(strings.TrimPrefix(string(text), "v = "), "\n")
}

// Setting describes one key of the configuration.
type Setting struct {
	Key string // section.key
	// Kind is what the key takes: "string", "int", "bool", "duration",
	// "list" (of strings), or "table".
	Kind string
	// Default is the key's default value, written as Set takes it: a list
	// as a,b,c.
	Default string
}

// Lookup describes key (section.key): what it takes and its default, as
// the default file says.
func Lookup(key string) (Setting, error) {
	def, err := defaultValue(key)
	if err != nil {
		return Setting{}, err
	}
	return Setting{Key: key, Kind: kindOf(key), Default: valueText(def)}, nil
}

// kindOf reads the kind of key's value from the file's layout.
func kindOf(key string) string {
	t := reflect.TypeFor[File]()
	for name := range strings.SplitSeq(key, ".") {
		f, ok := fieldByTag(t, name)
		if !ok {
			return ""
		}
		t = f.Type
	}
	switch {
	case t == reflect.TypeFor[Duration]():
		return "duration"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Bool:
		return "bool"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "int"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "list"
	}
	return "table"
}

// fieldByTag finds the field of struct type t that the TOML key name
// fills.
func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	if t.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for i := range t.NumField() {
		if f := t.Field(i); strings.Split(f.Tag.Get("toml"), ",")[0] == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// valueText writes a value as Set takes it: a list as a,b,c (as a TOML
// array when an item holds a comma), a section as TOML.
func valueText(v any) string {
	if list, ok := v.([]any); ok {
		items := make([]string, 0, len(list))
		for _, item := range list {
			s, ok := item.(string)
			if !ok || s == "" || strings.ContainsAny(s, ",[") || strings.TrimSpace(s) != s {
				return tomlValue(v)
			}
			items = append(items, s)
		}
		return strings.Join(items, ",")
	}
	return Format(v)
}

// Value returns the effective value of a key (section.key) in the
// configuration data gives, written as Set takes it.
func Value(data []byte, key string) (string, error) {
	v, err := Get(data, key)
	if err != nil {
		return "", err
	}
	return valueText(v), nil
}

// Set returns data with key (section.key) set to value, written as on the
// command line: a number, true or false, a duration or text, a list as
// a,b,c or as a TOML array. The rest of the file (comments, layout, other
// keys) is kept as it is. The whole result must be a valid configuration:
// if it is not, the error names the key and data is not changed.
func Set(data []byte, key, value string) ([]byte, error) {
	return Apply(data, Change{Key: key, Value: value})
}

// Change sets one key (section.key) to a value written as Set takes it.
type Change struct{ Key, Value string }

// Apply returns data with each change made in turn, as Set makes one: the
// rest of the file is kept, and the whole result is checked once, after
// the last change, so that changes that only make sense together can be
// made. Every error names its key; data itself is not changed.
func Apply(data []byte, changes ...Change) ([]byte, error) {
	before, err := values(data)
	if err != nil {
		return nil, err
	}
	out := data
	var errs []error
	for _, c := range changes {
		typed, err := typedKey(c.Key, c.Value)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		table, name := splitKey(c.Key)
		out = setLine(out, table, name, tomlValue(typed))
		setValue(before, c.Key, typed)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if _, err := Parse(out); err != nil {
		return nil, err
	}
	// The edits changed those keys, to those values, and nothing else.
	after, err := values(out)
	if err != nil {
		return nil, err
	}
	want, err := normalized(before)
	if err != nil {
		return nil, err
	}
	got, err := normalized(after)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(want, got) {
		var keys []string
		for _, c := range changes {
			keys = append(keys, c.Key)
		}
		return nil, fmt.Errorf("%s: the file's layout does not let it be edited in place; edit it by hand", strings.Join(keys, ", "))
	}
	return out, nil
}

// typedKey reads value as a value of key: of the type of its default, and
// for a duration, one.
func typedKey(key, value string) (any, error) {
	def, err := defaultValue(key)
	if err != nil {
		return nil, err
	}
	typed, err := typedValue(def, value)
	if err == nil && kindOf(key) == "duration" {
		var d Duration
		err = d.UnmarshalText([]byte(value))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return typed, nil
}

// normalized writes a configuration's values as TOML, each as the file
// layout reads it back (a duration of "15m" as "15m0s").
func normalized(v map[string]any) ([]byte, error) {
	text, err := toml.Marshal(v)
	if err != nil {
		return nil, err
	}
	if v, err = values(text); err != nil {
		return nil, err
	}
	return toml.Marshal(v)
}

// typedValue reads text as a value of the same type as the default def.
func typedValue(def any, text string) (any, error) {
	switch def.(type) {
	case int64:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", text)
		}
		return n, nil
	case bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", text)
		}
		return b, nil
	case []any:
		if strings.HasPrefix(strings.TrimSpace(text), "[") {
			var v struct{ V []string }
			if _, err := toml.Decode("V = "+text, &v); err != nil {
				return nil, fmt.Errorf("%q is not a list of strings like [\"a\", \"b\"] or a,b", text)
			}
			return v.V, nil
		}
		list := []string{}
		for item := range strings.SplitSeq(text, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		return list, nil
	}
	return text, nil
}

var header = regexp.MustCompile(`^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(#.*)?$`)

// setLine writes name = value in section: in place of the key's line
// (keeping its comment) if the key is there, else at the top of the
// section, else in a new section at the end.
func setLine(data []byte, section, name, value string) []byte {
	lines := strings.SplitAfter(string(data), "\n")
	assign := regexp.MustCompile(`^(\s*)` + regexp.QuoteMeta(name) + `\s*=`)
	cur, headerAt := "", -1
	for i, line := range lines {
		if m := header.FindStringSubmatch(line); m != nil {
			cur = m[1]
			if cur == section {
				headerAt = i
			}
			continue
		}
		m := assign.FindStringSubmatch(line)
		if cur != section || m == nil {
			continue
		}
		end, comment, col := valueEnd(lines, i)
		repl := m[1] + name + " = " + value
		if comment != "" {
			repl += strings.Repeat(" ", max(1, col-len(repl))) + comment
		}
		return []byte(strings.Join(lines[:i], "") + repl + "\n" + strings.Join(lines[end:], ""))
	}
	if headerAt >= 0 {
		return []byte(strings.Join(lines[:headerAt+1], "") + name + " = " + value + "\n" + strings.Join(lines[headerAt+1:], ""))
	}
	text := string(data)
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	if text != "" {
		text += "\n"
	}
	return []byte(text + "[" + section + "]\n" + name + " = " + value + "\n")
}

// valueEnd finds where the assignment starting at lines[i] ends (it may
// span lines, as an array can): the index of the line after it, its
// trailing comment, and the column the comment starts at.
func valueEnd(lines []string, i int) (end int, comment string, col int) {
	decodes := func(s string) bool {
		var v map[string]any
		_, err := toml.Decode(s, &v)
		return err == nil
	}
	for j := i; j < len(lines); j++ {
		before := strings.Join(lines[i:j], "")
		last := strings.TrimRight(lines[j], "\r\n")
		for p := 0; p < len(last); p++ {
			if last[p] == '#' && decodes(before+last[:p]) {
				return j + 1, last[p:], p
			}
		}
		if decodes(before + last) {
			return j + 1, "", 0
		}
	}
	return i + 1, "", 0 // not valid TOML: the line alone is replaced; Parse judges the result
}

// WriteFile replaces the configuration file at path with data atomically:
// a power cut leaves the old file or the new one. The file holds secrets
// (SMTP password, API keys): it is written readable by its owner only
// (0600), whatever the old one's permissions were.
func WriteFile(path string, data []byte) error { return atomicfile.WriteFileMode(path, data, 0o600) }
