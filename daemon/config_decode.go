package daemon

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// decoder fills a Config from goccy's syntax tree rather than through
// yaml.Unmarshal, so that it reports every problem under its YAML path (not
// only the first, under Go's field names), and remembers where each setting
// was written so that Validate's findings can point there too.
type decoder struct {
	pos     map[string]*token.Position // a field's key, a list entry's start
	anchors map[string]ast.Node
	errs    []*FieldError
	bad     []string // paths whose values could not be decoded
}

// decodeConfig decodes data over c. A syntax error is returned as a
// *ConfigError; other problems are left in the decoder's errs.
func decodeConfig(data []byte, c *Config) (*decoder, error) {
	d := &decoder{pos: map[string]*token.Position{}, anchors: map[string]ast.Node{}}
	// Duplicate keys are allowed here only to be reported below with their path.
	f, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		fe := &FieldError{Msg: err.Error()}
		var ye yaml.Error
		if errors.As(err, &ye) {
			fe.Msg = ye.GetMessage()
			if tk := ye.GetToken(); tk != nil && tk.Position != nil {
				fe.Line, fe.Column = tk.Position.Line, tk.Position.Column
			}
		}
		return nil, &ConfigError{Errs: []*FieldError{fe}}
	}
	var body ast.Node
	for _, doc := range f.Docs {
		if doc.Body == nil {
			continue
		}
		if body != nil {
			pos := posOf(doc.Body)
			if doc.Start != nil {
				pos = doc.Start.Position
			}
			// Not through errorf: the first document still counts.
			fe := &FieldError{Msg: "want one YAML document, found a second"}
			if pos != nil {
				fe.Line, fe.Column = pos.Line, pos.Column
			}
			d.errs = append(d.errs, fe)
			break
		}
		body = doc.Body
	}
	if body == nil {
		return d, nil
	}
	d.setPos("", posOf(body))
	ast.Walk(anchorIndex(d.anchors), body)
	d.decode(body, reflect.ValueOf(c).Elem(), "")
	return d, nil
}

// anchorIndex collects the anchors (&name) of a document, for its aliases
// (*name). A name defined twice keeps its last definition.
type anchorIndex map[string]ast.Node

func (a anchorIndex) Visit(n ast.Node) ast.Visitor {
	if an, ok := n.(*ast.AnchorNode); ok && an.Name != nil {
		a[an.Name.GetToken().Value] = an.Value
	}
	return a
}

// errorf records a problem with the setting at path, located at the token
// given or else where the setting was written.
func (d *decoder) errorf(path string, at *token.Token, format string, args ...any) {
	fe := &FieldError{Field: path, Msg: fmt.Sprintf(format, args...)}
	if at != nil && at.Position != nil {
		fe.Line, fe.Column = at.Position.Line, at.Position.Column
	} else {
		fe.Line, fe.Column = d.locate(path)
	}
	d.errs = append(d.errs, fe)
	d.bad = append(d.bad, path)
}

// failed reports whether the value at path, or one holding it, could not be
// decoded: what Validate says about it would be noise.
func (d *decoder) failed(path string) bool {
	for _, b := range d.bad {
		if b == "" || path == b || strings.HasPrefix(path, b+".") || strings.HasPrefix(path, b+"[") {
			return true
		}
	}
	return false
}

// locate finds where path was written or, for a setting left out, where the
// nearest enclosing one was.
func (d *decoder) locate(path string) (line, col int) {
	for p := path; ; p = parentPath(p) {
		if pos, ok := d.pos[p]; ok {
			return pos.Line, pos.Column
		}
		if p == "" {
			return 1, 1
		}
	}
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) setPos(path string, pos *token.Position) {
	if pos != nil {
		d.pos[path] = pos
	}
}

// posOf is where a node starts: a mapping's first key rather than its
// colon. It is nil if goccy does not say.
func posOf(n ast.Node) *token.Position {
	switch n := n.(type) {
	case nil:
		return nil
	case *ast.MappingNode:
		if len(n.Values) > 0 {
			return posOf(n.Values[0])
		}
	case *ast.MappingValueNode:
		return posOf(n.Key)
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Position
	}
	return nil
}

// resolve follows anchors and aliases to the node they stand for, and
// looks through tags on mappings and lists (!!map, !!seq).
func (d *decoder) resolve(n ast.Node, path string) (ast.Node, bool) {
	for range 16 {
		switch t := n.(type) {
		case *ast.AnchorNode:
			n = t.Value
		case *ast.TagNode:
			switch t.Value.(type) {
			case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode:
				n = t.Value
			default:
				return n, true // a scalar's tag is for scalar to read
			}
		case *ast.AliasNode:
			name := t.Value.GetToken().Value
			target, ok := d.anchors[name]
			if !ok {
				d.errorf(path, t.GetToken(), "unknown alias *%s", name)
				return nil, false
			}
			n = target
		default:
			return n, true
		}
	}
	d.errorf(path, n.GetToken(), "aliases nested too deep")
	return nil, false
}

var (
	durationType = reflect.TypeFor[Duration]()
	modeType     = reflect.TypeFor[FileMode]()
)

// decode sets v from n and reports whether it could. A null leaves v as it
// was, so that "store:" with nothing under it keeps the defaults.
func (d *decoder) decode(n ast.Node, v reflect.Value, path string) bool {
	n, ok := d.resolve(n, path)
	if !ok {
		return false
	}
	if _, null := n.(*ast.NullNode); null || n == nil {
		return true
	}
	switch {
	case v.Type() == durationType:
		return d.decodeDuration(n, v, path)
	case v.Type() == modeType:
		return d.decodeMode(n, v, path)
	}
	switch v.Kind() {
	case reflect.Struct:
		return d.decodeStruct(n, v, path)
	case reflect.Slice:
		return d.decodeSlice(n, v, path)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if !d.decode(n, p.Elem(), path) {
			return false
		}
		v.Set(p)
		return true
	}
	x, ok := d.scalar(n, path, wantOf(v.Kind()))
	if !ok {
		return false
	}
	switch v.Kind() {
	case reflect.Interface:
		if u, ok := x.(uint64); ok {
			if u <= math.MaxInt64 {
				x = int64(u)
			} else {
				x = float64(u)
			}
		}
		v.Set(reflect.ValueOf(x))
		return true
	case reflect.String:
		if s, ok := x.(string); ok {
			v.SetString(s)
			return true
		}
	case reflect.Bool:
		if b, ok := x.(bool); ok {
			v.SetBool(b)
			return true
		}
	case reflect.Int:
		i, isInt := x.(int64)
		u, isUint := x.(uint64)
		switch {
		case isUint && u <= math.MaxInt64 && !v.OverflowInt(int64(u)):
			v.SetInt(int64(u))
			return true
		case isInt && !v.OverflowInt(i):
			v.SetInt(i)
			return true
		case isInt || isUint:
			d.errorf(path, nil, "%v is too large", x)
			return false
		}
	case reflect.Float64:
		if f, ok := toFloat(x); ok {
			v.SetFloat(f)
			return true
		}
	default:
		panic("daemon: config field of unsupported kind " + v.Kind().String())
	}
	d.errorf(path, nil, "want %s, got %s", wantOf(v.Kind()), describe(x))
	return false
}

func wantOf(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int:
		return "an integer"
	case reflect.Float64:
		return "a number"
	}
	return "a single value"
}

// scalar returns a scalar node's value as goccy reads it: a string, an
// int64 or uint64, a float64 or a bool.
func (d *decoder) scalar(n ast.Node, path, want string) (any, bool) {
	switch t := n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		d.errorf(path, nil, "want %s, got a mapping", want)
		return nil, false
	case *ast.SequenceNode:
		d.errorf(path, nil, "want %s, got a list", want)
		return nil, false
	case *ast.TagNode:
		// goccy reads "!!str 0660" as "432"; the text written is what is meant.
		if t.Start.Value == "!!str" && t.Value != nil {
			return t.Value.GetToken().Value, true
		}
	}
	var x any
	if err := yaml.NodeToValue(n, &x); err != nil {
		msg := err.Error()
		var ye yaml.Error
		if errors.As(err, &ye) {
			msg = ye.GetMessage()
		}
		d.errorf(path, nil, "%s", msg)
		return nil, false
	}
	// A tag (!!int) can give other Go types than goccy's plain scalars do.
	switch rv := reflect.ValueOf(x); {
	case rv.CanInt():
		return rv.Int(), true
	case rv.CanUint():
		return rv.Uint(), true
	case rv.CanFloat():
		return rv.Float(), true
	}
	return x, true
}

func describe(x any) string {
	switch x := x.(type) {
	case string:
		return fmt.Sprintf("string %q", x)
	case int64, uint64:
		return fmt.Sprintf("integer %d", x)
	case float64:
		return "number " + strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", x)
}

func (d *decoder) decodeDuration(n ast.Node, v reflect.Value, path string) bool {
	x, ok := d.scalar(n, path, "a duration")
	if !ok {
		return false
	}
	switch x := x.(type) {
	case string:
		dur, err := parseDuration(x)
		if err != nil {
			d.errorf(path, nil, "%v", err)
			return false
		}
		v.SetInt(int64(dur))
		return true
	case int64, uint64:
		if f, _ := toFloat(x); f == 0 {
			v.SetInt(0)
			return true
		}
	}
	d.errorf(path, nil, `want a duration with a unit, like "5m" or "168h", got %s`, describe(x))
	return false
}

func (d *decoder) decodeMode(n ast.Node, v reflect.Value, path string) bool {
	var (
		m   FileMode
		err error
	)
	if in, ok := n.(*ast.IntegerNode); ok {
		m, err = parseMode(in.Token.Value, false)
	} else {
		x, ok := d.scalar(n, path, "an octal mode")
		if !ok {
			return false
		}
		s, isString := x.(string)
		if !isString {
			d.errorf(path, nil, `want an octal mode like 0660 or "0660", got %s`, describe(x))
			return false
		}
		m, err = parseMode(s, true)
	}
	if err != nil {
		d.errorf(path, nil, "%v", err)
		return false
	}
	v.SetUint(uint64(m))
	return true
}

func (d *decoder) decodeSlice(n ast.Node, v reflect.Value, path string) bool {
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.errorf(path, nil, "want a list, got %s", describeNode(n))
		return false
	}
	if len(seq.Values) == 0 {
		v.SetZero()
		return true
	}
	s := reflect.MakeSlice(v.Type(), len(seq.Values), len(seq.Values))
	for i, e := range seq.Values {
		ep := fmt.Sprintf("%s[%d]", path, i)
		d.setPos(ep, posOf(e))
		d.decode(e, s.Index(i), ep)
	}
	v.Set(s)
	return true
}

// describeNode says what a node holds, for messages.
func describeNode(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	}
	var x any
	if yaml.NodeToValue(n, &x) != nil {
		return n.Type().YAMLName()
	}
	return describe(x)
}

// entry is one key of a mapping.
type entry struct {
	key   string
	at    *token.Token
	value ast.Node
}

func (d *decoder) decodeStruct(n ast.Node, v reflect.Value, path string) bool {
	entries, ok := d.entries(n, path, 0)
	if !ok {
		d.errorf(path, nil, "want a mapping, got %s", describeNode(n))
		return false
	}
	fields, names := structFields(v.Type())
	seen := map[string]*token.Position{}
	for _, e := range entries {
		fp := joinPath(path, e.key)
		if first, dup := seen[e.key]; dup {
			msg := "duplicate key"
			switch {
			case first != nil && first.Line == e.at.Position.Line:
				msg += fmt.Sprintf(" (first at column %d)", first.Column)
			case first != nil:
				msg += fmt.Sprintf(" (first at line %d)", first.Line)
			}
			d.errorf(fp, e.at, "%s", msg)
			continue
		}
		seen[e.key] = e.at.Position
		d.setPos(fp, e.at.Position)
		i, known := fields[e.key]
		if !known {
			d.errorf(fp, e.at, "unknown field%s (known: %s)", suggest(e.key, names), strings.Join(names, ", "))
			continue
		}
		d.decode(e.value, v.Field(i), fp)
	}
	return true
}

// entries lists a mapping's keys, with those it merges in (<<: *base) after
// its own and only where it does not set them itself.
func (d *decoder) entries(n ast.Node, path string, depth int) ([]entry, bool) {
	var values []*ast.MappingValueNode
	switch t := n.(type) {
	case *ast.MappingNode:
		values = t.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{t}
	default:
		return nil, false
	}
	var own, merged []entry
	for _, mv := range values {
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			merged = append(merged, d.merge(mv.Value, path, depth)...)
			continue
		}
		own = append(own, entry{key: keyText(mv.Key), at: mv.Key.GetToken(), value: mv.Value})
	}
	have := map[string]bool{}
	for _, e := range own {
		have[e.key] = true
	}
	for _, e := range merged {
		if !have[e.key] {
			have[e.key] = true
			own = append(own, e)
		}
	}
	return own, true
}

func (d *decoder) merge(n ast.Node, path string, depth int) []entry {
	at := n.GetToken()
	if depth > 8 {
		d.errorf(path, at, "merge keys nested too deep")
		return nil
	}
	n, ok := d.resolve(n, path)
	if !ok {
		return nil
	}
	if seq, ok := n.(*ast.SequenceNode); ok {
		var out []entry
		for _, e := range seq.Values {
			out = append(out, d.merge(e, path, depth+1)...)
		}
		return out
	}
	es, ok := d.entries(n, path, depth+1)
	if !ok {
		d.errorf(path, at, "<< wants a mapping or a list of mappings, got %s", describeNode(n))
	}
	return es
}

func keyText(k ast.MapKeyNode) string {
	switch k := k.(type) {
	case *ast.StringNode:
		return k.Value
	case *ast.MappingKeyNode:
		if s, ok := k.Value.(*ast.StringNode); ok {
			return s.Value
		}
	}
	return k.GetToken().Value
}

// structFields maps the YAML names of t's fields to their indexes, and
// lists the names in order.
func structFields(t reflect.Type) (map[string]int, []string) {
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		fields[name] = i
		names = append(names, name)
	}
	slices.Sort(names)
	return fields, names
}

// suggest offers the known name closest to a mistyped one.
func suggest(key string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		if dist := editDistance(key, n); dist < bestDist {
			best, bestDist = n, dist
		}
	}
	if best == "" {
		return ""
	}
	return "; did you mean " + best + "?"
}

func editDistance(a, b string) int {
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
