// Command genenums writes enums_generated.go of package openapi: for every
// string type of k8s.io/api marked +enum, the constants of that type, as
// Kubernetes' OpenAPI generator (k8s.io/kube-openapi/pkg/generators,
// enum.go) finds them. The OpenAPI documents list them as the enum of the
// properties of that type, and describe them after the property's own
// description ("Possible enum values: ...").
//
// It reads the sources of the k8s.io/api module the berth module requires
// (located with `go list -m`), so it runs offline from the module cache:
//
//	go run ./internal/genenums -o enums_generated.go
//
// What counts, as openapi-gen sees it:
//   - an enum type is a type defined as `type T string` whose doc comment
//     (the comment block ending on the line before its name) has a line
//     `+enum`;
//   - its values are the constants of type T in any package of the module,
//     typed by declaration (`C T = "v"`), conversion (`C = T("v")`) or
//     reference to another such constant (`C = OtherC`); a value seen twice
//     is kept once, the first declaration in source order winning;
//   - the doc of a value is the comment block ending on the line before the
//     constant's name, lines joined with spaces, the constant's name
//     trimmed from its start and runs of white space collapsed.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/build"
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

const module = "k8s.io/api"

func main() {
	out := flag.String("o", "enums_generated.go", "file to write")
	flag.Parse()
	dir, version, err := moduleDir(module)
	if err != nil {
		fmt.Fprintf(os.Stderr, "genenums: %v\n", err)
		os.Exit(1)
	}
	src, err := generate(dir, version)
	if err != nil {
		fmt.Fprintf(os.Stderr, "genenums: %v\n", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "genenums: %v\n", err)
		os.Exit(1)
	}
}

// moduleDir finds the directory and version of module mod in the build
// list of the current module.
func moduleDir(mod string) (dir, version string, err error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}\n{{.Version}}", mod)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("go list -m %s: %v: %s", mod, err, strings.TrimSpace(stderr.String()))
	}
	dir, version, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	if dir == "" {
		return "", "", fmt.Errorf("module %s has no directory (not downloaded?)", mod)
	}
	return dir, version, nil
}

// typeKey names a Go type as reflect does: package path, dot, name.
type typeKey struct{ pkg, name string }

func (k typeKey) String() string { return k.pkg + "." + k.name }

// enumValue is one value of an enum type.
type enumValue struct{ value, doc string }

// pkgSrc is one parsed package.
type pkgSrc struct {
	path  string
	name  string
	fset  *token.FileSet
	files []*ast.File
	// types are the names of the package-level types.
	types map[string]bool
	// consts are the package-level constants by name.
	consts map[string]*constDecl
	// order lists the constants in source order.
	order []*constDecl
}

// constDecl is one constant: its type and value expressions as written
// (after implicit repetition in const blocks), and what they resolve to.
type constDecl struct {
	pkg   *pkgSrc
	file  *ast.File
	name  *ast.Ident
	typ   ast.Expr // nil: untyped, or typed by its value
	value ast.Expr
	doc   string

	resolving bool
	resolved  bool
	typeOf    typeKey // zero when untyped or not a named type
	val       string
	valOK     bool
}

// generator holds the parsed module.
type generator struct {
	pkgs  map[string]*pkgSrc
	paths []string
	enums map[typeKey][]enumValue
}

// generate parses every package of the module in dir and renders the
// generated file.
func generate(dir, version string) ([]byte, error) {
	g := &generator{pkgs: map[string]*pkgSrc{}, enums: map[typeKey][]enumValue{}}
	if err := g.load(dir); err != nil {
		return nil, err
	}
	for _, p := range g.paths {
		g.findEnumTypes(g.pkgs[p])
	}
	if err := g.collectValues(); err != nil {
		return nil, err
	}
	return g.render(version)
}

// load parses the non-test Go files of every package under dir.
func (g *generator) load(dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		base := d.Name()
		if p != dir && (base == "testdata" || base == "vendor" || strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_")) {
			return filepath.SkipDir
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		importPath := module
		if rel != "." {
			importPath = path.Join(module, filepath.ToSlash(rel))
		}
		return g.loadPackage(p, importPath)
	})
	sort.Strings(g.paths)
	return err
}

func (g *generator) loadPackage(dir, importPath string) error {
	bp, err := build.Default.ImportDir(dir, 0)
	if err != nil {
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			return nil
		}
		return fmt.Errorf("%s: %v", importPath, err)
	}
	p := &pkgSrc{path: importPath, name: bp.Name, fset: token.NewFileSet(), types: map[string]bool{}, consts: map[string]*constDecl{}}
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(p.fset, filepath.Join(dir, name), nil, parser.ParseComments)
		if err != nil {
			return err
		}
		p.files = append(p.files, f)
	}
	for _, f := range p.files {
		p.addTypes(f)
		p.addConsts(f)
	}
	g.pkgs[importPath] = p
	g.paths = append(g.paths, importPath)
	return nil
}

// docComments indexes the comment blocks of a file by the line they end
// on: openapi-gen (through gengo) takes as the doc of a declaration the
// block that ends on the line before the declared name, whatever go/ast
// attaches it to.
func docComments(fset *token.FileSet, f *ast.File) map[int]*ast.CommentGroup {
	m := map[int]*ast.CommentGroup{}
	for _, c := range f.Comments {
		m[fset.Position(c.End()).Line] = c
	}
	return m
}

// docLines returns the doc comment lines of the name at pos, as gengo
// splits them.
func docLines(fset *token.FileSet, docs map[int]*ast.CommentGroup, pos token.Pos) []string {
	text := docs[fset.Position(pos).Line-1].Text() // nil-safe
	return strings.Split(strings.TrimRight(text, "\n"), "\n")
}

// addTypes records the names of the package-level types of f.
func (p *pkgSrc) addTypes(f *ast.File) {
	for _, decl := range f.Decls {
		if gd, ok := decl.(*ast.GenDecl); ok && gd.Tok == token.TYPE {
			for _, spec := range gd.Specs {
				p.types[spec.(*ast.TypeSpec).Name.Name] = true
			}
		}
	}
}

// addConsts records the package-level constants of f.
func (p *pkgSrc) addConsts(f *ast.File) {
	docs := docComments(p.fset, f)
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		var typ ast.Expr
		var values []ast.Expr
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if vs.Type != nil || len(vs.Values) > 0 {
				// Otherwise the spec repeats the previous one's type and values.
				typ, values = vs.Type, vs.Values
			}
			for i, name := range vs.Names {
				if name.Name == "_" {
					continue
				}
				c := &constDecl{pkg: p, file: f, name: name, typ: typ,
					doc: strings.Join(docLines(p.fset, docs, name.Pos()), " ")}
				if i < len(values) {
					c.value = values[i]
				}
				p.consts[name.Name] = c
				p.order = append(p.order, c)
			}
		}
	}
}

// findEnumTypes records the enum types p defines.
func (g *generator) findEnumTypes(p *pkgSrc) {
	for _, f := range p.files {
		docs := docComments(p.fset, f)
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				if ts.Assign.IsValid() || ts.TypeParams != nil {
					continue // an alias is the same type as its target
				}
				if id, ok := ts.Type.(*ast.Ident); !ok || id.Name != "string" {
					continue
				}
				if hasTag(docLines(p.fset, docs, ts.Name.Pos()), "enum") {
					g.enums[typeKey{p.path, ts.Name.Name}] = nil
				}
			}
		}
	}
}

// hasTag reports a comment line "+name" or "+name=...", as gengo's
// ExtractCommentTags reads tags.
func hasTag(lines []string, name string) bool {
	for _, line := range lines {
		line = strings.Trim(line, " ")
		if !strings.HasPrefix(line, "+") {
			continue
		}
		key, _, _ := strings.Cut(line[1:], "=")
		if key == name {
			return true
		}
	}
	return false
}

// collectValues assigns every constant of an enum type to its type. The
// constants of the type's own package come first, then those of other
// packages by import path; each in source order.
func (g *generator) collectValues() error {
	space := regexp.MustCompile(`\s+`)
	byType := map[typeKey][]*constDecl{}
	for _, path := range g.paths {
		for _, c := range g.pkgs[path].order {
			if err := g.resolve(c); err != nil {
				return err
			}
			if _, ok := g.enums[c.typeOf]; !ok {
				continue
			}
			if !c.valOK {
				return fmt.Errorf("%s: constant %s of enum type %s: cannot evaluate its value",
					c.pkg.fset.Position(c.name.Pos()), c.name.Name, c.typeOf)
			}
			byType[c.typeOf] = append(byType[c.typeOf], c)
		}
	}
	for key, cs := range byType {
		sort.SliceStable(cs, func(i, j int) bool {
			return (cs[i].pkg.path == key.pkg) && (cs[j].pkg.path != key.pkg)
		})
		seen := map[string]bool{}
		for _, c := range cs {
			if seen[c.val] {
				continue
			}
			seen[c.val] = true
			// enumValue.Description of kube-openapi: the comment without
			// the constant's name, white space collapsed.
			doc := strings.TrimSpace(c.doc)
			doc = strings.TrimSpace(strings.TrimPrefix(doc, c.name.Name))
			doc = space.ReplaceAllString(doc, " ")
			g.enums[key] = append(g.enums[key], enumValue{value: c.val, doc: doc})
		}
	}
	return nil
}

// resolve works out the type and value of c.
func (g *generator) resolve(c *constDecl) error {
	if c.resolved {
		return nil
	}
	if c.resolving {
		return fmt.Errorf("%s: constant %s refers to itself", c.pkg.fset.Position(c.name.Pos()), c.name.Name)
	}
	c.resolving = true
	defer func() { c.resolving, c.resolved = false, true }()
	if c.typ != nil {
		c.typeOf = g.typeName(c, c.typ)
	}
	if c.value == nil {
		return nil
	}
	typ, val, ok, err := g.eval(c, c.value)
	if err != nil {
		return err
	}
	if c.typ == nil {
		c.typeOf = typ
	}
	c.val, c.valOK = val, ok
	return nil
}

// typeName resolves a type expression written in c's file to a named
// type: T or pkg.T.
func (g *generator) typeName(c *constDecl, e ast.Expr) typeKey {
	switch e := e.(type) {
	case *ast.Ident:
		if e.Name == "string" && !c.pkg.types["string"] {
			return typeKey{name: "string"} // the predeclared type
		}
		return typeKey{c.pkg.path, e.Name}
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok {
			if imp := g.importPath(c.file, x.Name); imp != "" {
				return typeKey{imp, e.Sel.Name}
			}
		}
	case *ast.ParenExpr:
		return g.typeName(c, e.X)
	}
	return typeKey{}
}

// importPath finds the import of file f that name refers to.
func (g *generator) importPath(f *ast.File, name string) string {
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			continue
		}
		local := ""
		switch {
		case imp.Name != nil:
			local = imp.Name.Name
		case g.pkgs[p] != nil:
			local = g.pkgs[p].name
		default:
			local = path.Base(p)
		}
		if local == name {
			return p
		}
	}
	return ""
}

// lookupConst finds the constant an identifier or selector refers to.
func (g *generator) lookupConst(c *constDecl, e ast.Expr) *constDecl {
	switch e := e.(type) {
	case *ast.Ident:
		return c.pkg.consts[e.Name]
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok {
			if p := g.pkgs[g.importPath(c.file, x.Name)]; p != nil {
				return p.consts[e.Sel.Name]
			}
		}
	}
	return nil
}

// isType reports whether k names the predeclared string type or a type
// declared in one of the parsed packages.
func (g *generator) isType(k typeKey) bool {
	if k == (typeKey{name: "string"}) {
		return true
	}
	p := g.pkgs[k.pkg]
	return p != nil && p.types[k.name]
}

// eval evaluates a string constant expression: literals, references to
// other constants, conversions and concatenation. ok is false for what it
// cannot evaluate (numbers, iota, calls); typ is the named type the
// expression has, if any.
func (g *generator) eval(c *constDecl, e ast.Expr) (typ typeKey, val string, ok bool, err error) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return typeKey{}, "", false, nil
		}
		s, err := strconv.Unquote(e.Value)
		return typeKey{}, s, err == nil, nil
	case *ast.ParenExpr:
		return g.eval(c, e.X)
	case *ast.Ident, *ast.SelectorExpr:
		ref := g.lookupConst(c, e)
		if ref == nil {
			return typeKey{}, "", false, nil
		}
		if err := g.resolve(ref); err != nil {
			return typeKey{}, "", false, err
		}
		return ref.typeOf, ref.val, ref.valOK, nil
	case *ast.CallExpr:
		// A conversion T(x); anything else is not a constant we know.
		if len(e.Args) != 1 {
			return typeKey{}, "", false, nil
		}
		t := g.typeName(c, e.Fun)
		if !g.isType(t) {
			return typeKey{}, "", false, nil
		}
		_, val, ok, err := g.eval(c, e.Args[0])
		return t, val, ok, err
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return typeKey{}, "", false, nil
		}
		xt, x, xok, err := g.eval(c, e.X)
		if err != nil {
			return typeKey{}, "", false, err
		}
		yt, y, yok, err := g.eval(c, e.Y)
		if err != nil {
			return typeKey{}, "", false, err
		}
		if xt == (typeKey{}) {
			xt = yt
		}
		return xt, x + y, xok && yok, nil
	}
	return typeKey{}, "", false, nil
}

// render writes the generated Go file.
func (g *generator) render(version string) ([]byte, error) {
	keys := make([]typeKey, 0, len(g.enums))
	for k := range g.enums {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by genenums from %s %s. DO NOT EDIT.\n\n", module, version)
	b.WriteString("package openapi\n\n")
	b.WriteString("// enumTypes holds, for each string type of " + module + " marked +enum, the\n")
	b.WriteString("// constants of that type in source order: value and documentation.\n")
	b.WriteString("var enumTypes = map[string][]enumValue{\n")
	for _, k := range keys {
		if len(g.enums[k]) == 0 {
			continue // openapi-gen lists no values, so no enum
		}
		fmt.Fprintf(&b, "%q: {\n", k.String())
		for _, v := range g.enums[k] {
			fmt.Fprintf(&b, "{%q, %q},\n", v.value, v.doc)
		}
		b.WriteString("},\n")
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}
