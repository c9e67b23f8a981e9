package schema

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEveryAttributeIsDocumented reads the constants of every file of this package and checks that every
// attribute name (a dotted constant) appears, back-quoted, in docs/schema.md.
func TestEveryAttributeIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/schema.md")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var decls []ast.Decl
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		decls = append(decls, f.Decls...)
	}
	n := 0
	for _, decl := range decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			for _, v := range spec.(*ast.ValueSpec).Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				name, _ := strconv.Unquote(lit.Value)
				if !strings.Contains(name, ".") {
					continue // an enumerated value, not an attribute name
				}
				n++
				if !strings.Contains(string(doc), "`"+name+"`") {
					t.Errorf("attribute %q is not documented in docs/schema.md", name)
				}
			}
		}
	}
	if n < 50 {
		t.Fatalf("found only %d attribute names in the package", n)
	}
}

func TestTransport(t *testing.T) {
	cases := map[uint8]string{6: "tcp", 17: "udp", 1: "icmp", 58: "ipv6-icmp", 47: "gre", 50: "esp", 253: "253", 0: "hopopt"}
	for num, want := range cases {
		if got := Transport(num); got != want {
			t.Errorf("Transport(%d) = %q, want %q", num, got, want)
		}
		back, ok := TransportNumber(want)
		if !ok || back != num {
			t.Errorf("TransportNumber(%q) = %d, %v; want %d", want, back, ok, num)
		}
	}
	if _, ok := TransportNumber("nonsense"); ok {
		t.Error("TransportNumber accepted an unknown keyword")
	}
	if a := testing.AllocsPerRun(100, func() { _ = Transport(200) }); a != 0 {
		t.Errorf("Transport allocates %v times", a)
	}
}
