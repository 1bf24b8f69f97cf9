package httpapi

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fsdialer/fsdialer/store"
)

// A shape is what a JSON body may hold at one place, derived from the Go
// type the body decodes into. encoding/json stops at the first value of a
// wrong type and names it by Go's own path ("parameters.plain.limit",
// "expected struct { store.plain; ... }"); checking the document against
// its shape names every wrong value by the path the client wrote, with
// indexes, in plain words.
type shape struct {
	kind   shapeKind
	bits   int    // intShape, uintShape: the Go type's size
	elem   *shape // listShape, mapShape
	fields map[string]*shape
	folded map[string]*shape // encoding/json also matches keys case-insensitively
	// custom checks a value of a type with its own UnmarshalJSON; it
	// reports what is wrong and whether the value can be decoded.
	custom func(path string, v any, p *problems) bool
}

type shapeKind uint8

const (
	anyShape shapeKind = iota
	stringShape
	intShape
	uintShape
	floatShape
	boolShape
	listShape
	objectShape
	mapShape
	customShape
)

// problems collects what is wrong with a document, by path.
type problems struct{ list []store.FieldError }

func (p *problems) add(path, format string, args ...any) {
	p.list = append(p.list, store.FieldError{Field: path, Message: fmt.Sprintf(format, args...)})
}

// check reports every value under v that cannot be decoded into the shape
// and removes it from v, so that what is left decodes: the caller can then
// validate the rest and name everything wrong at once. It reports whether
// v itself can stay.
func (s *shape) check(path string, v any, p *problems) bool {
	if v == nil {
		return true // null leaves the Go value as it is
	}
	switch s.kind {
	case anyShape:
		return true
	case customShape:
		return s.custom(path, v, p)
	case stringShape:
		if _, ok := v.(string); ok {
			return true
		}
	case boolShape:
		if _, ok := v.(bool); ok {
			return true
		}
	case intShape, uintShape, floatShape:
		n, ok := v.(json.Number)
		if !ok {
			break
		}
		var err error
		switch s.kind {
		case intShape:
			_, err = strconv.ParseInt(n.String(), 10, s.bits)
		case uintShape:
			_, err = strconv.ParseUint(n.String(), 10, s.bits)
		default:
			_, err = strconv.ParseFloat(n.String(), 64)
		}
		if err == nil {
			return true
		}
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			p.add(path, "%s is out of range", n)
			return false
		}
	case listShape:
		list, ok := v.([]any)
		if !ok {
			break
		}
		for i, e := range list {
			if !s.elem.check(fmt.Sprintf("%s[%d]", path, i), e, p) {
				list[i] = nil
			}
		}
		return true
	case mapShape:
		m, ok := v.(map[string]any)
		if !ok {
			break
		}
		for _, k := range sortedKeys(m) {
			if !s.elem.check(join(path, k), m[k], p) {
				delete(m, k)
			}
		}
		return true
	case objectShape:
		m, ok := v.(map[string]any)
		if !ok {
			break
		}
		for _, k := range sortedKeys(m) {
			f := s.field(k)
			if f == nil {
				continue // unknown fields are ignored
			}
			if !f.check(join(path, k), m[k], p) {
				delete(m, k)
			}
		}
		return true
	}
	p.add(path, "must be %s, not %s", s.expected(), describe(v))
	return false
}

// field finds a key's shape as encoding/json does: the exact name first,
// then any case.
func (s *shape) field(key string) *shape {
	if f := s.fields[key]; f != nil {
		return f
	}
	return s.folded[strings.ToLower(key)]
}

// expected says in plain words what the shape takes.
func (s *shape) expected() string {
	switch s.kind {
	case stringShape:
		return "a string"
	case intShape, uintShape:
		return "a whole number"
	case floatShape:
		return "a number"
	case boolShape:
		return "true or false"
	case listShape:
		return "a list"
	case objectShape, mapShape:
		return "an object"
	}
	return "a value"
}

// describe says in plain words what a decoded JSON value is.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "the string " + strconv.Quote(clip(x, 40))
	case json.Number:
		return "the number " + clip(x.String(), 40)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// clip shortens s for a message, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// shapeBuilder derives shapes from Go types. Types that decode themselves
// (json.Unmarshaler) need an entry in custom: without one a struct is
// checked by its fields (and recorded in guessed, which a test keeps
// empty), anything else is taken as it comes.
type shapeBuilder struct {
	custom  map[reflect.Type]*shape
	aliases map[reflect.Type]map[string]*shape // extra spellings a type's UnmarshalJSON accepts
	seen    map[reflect.Type]*shape
	guessed []reflect.Type
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// newShapeBuilder knows the API's bodies: their own decoders (idRef,
// flexTime, stopList, json.Number) and the store's second spellings.
func newShapeBuilder() *shapeBuilder {
	return &shapeBuilder{
		custom: map[reflect.Type]*shape{
			reflect.TypeFor[idRef]():       {kind: customShape, custom: checkIDRef},
			reflect.TypeFor[flexTime]():    {kind: customShape, custom: checkFlexTime},
			reflect.TypeFor[stopList]():    {kind: customShape, custom: checkStopList},
			reflect.TypeFor[json.Number](): {kind: customShape, custom: checkNumber},
		},
		aliases: map[reflect.Type]map[string]*shape{
			reflect.TypeFor[store.Parameters](): {"waitForResultStatus": {kind: boolShape}},
			reflect.TypeFor[store.Resource]():   {"dialedNumber": {kind: stringShape}},
		},
		seen: map[reflect.Type]*shape{},
	}
}

// shapeOf returns the shape of a value of type t.
func (b *shapeBuilder) shapeOf(t reflect.Type) *shape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s := b.custom[t]; s != nil {
		return s
	}
	if s := b.seen[t]; s != nil {
		return s // a type that contains itself
	}
	decodesItself := reflect.PointerTo(t).Implements(unmarshalerType)
	if decodesItself && b.aliases[t] == nil {
		if t.Kind() != reflect.Struct {
			return &shape{kind: anyShape}
		}
		b.guessed = append(b.guessed, t)
	}
	if !decodesItself && reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return &shape{kind: stringShape}
	}
	switch t.Kind() {
	case reflect.String:
		return &shape{kind: stringShape}
	case reflect.Bool:
		return &shape{kind: boolShape}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &shape{kind: intShape, bits: t.Bits()}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &shape{kind: uintShape, bits: t.Bits()}
	case reflect.Float32, reflect.Float64:
		return &shape{kind: floatShape}
	case reflect.Slice, reflect.Array:
		return &shape{kind: listShape, elem: b.shapeOf(t.Elem())}
	case reflect.Map:
		return &shape{kind: mapShape, elem: b.shapeOf(t.Elem())}
	case reflect.Struct:
		s := &shape{kind: objectShape, fields: map[string]*shape{}, folded: map[string]*shape{}}
		b.seen[t] = s
		b.addFields(s, t)
		for name, f := range b.aliases[t] {
			s.fields[name] = f
			s.folded[strings.ToLower(name)] = f
		}
		return s
	}
	return &shape{kind: anyShape}
}

// addFields adds a struct's fields as encoding/json sees them: by their
// JSON names, an embedded struct's fields as its own unless the outer
// struct has a field of that name.
func (b *shapeBuilder) addFields(s *shape, t reflect.Type) {
	var embedded []reflect.Type
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				embedded = append(embedded, et)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fs := b.shapeOf(f.Type)
		s.fields[name] = fs
		s.folded[strings.ToLower(name)] = fs
	}
	for _, et := range embedded {
		inner := &shape{fields: map[string]*shape{}, folded: map[string]*shape{}}
		b.addFields(inner, et)
		for name, fs := range inner.fields {
			if _, outer := s.fields[name]; !outer {
				s.fields[name] = fs
				s.folded[strings.ToLower(name)] = fs
			}
		}
	}
}
