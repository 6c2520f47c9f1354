// Package policyschema writes docs/policy.schema.json, the JSON Schema of
// the policy format, for editors (yaml-language-server) and CI. The schema
// comes from policy.JSONSchema (reflection over the decoder's yaml tags);
// this package adds what only the source has: doc comments as
// descriptions, and each named string type's constants as its enum.
package policyschema

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/policy"
)

// Generate returns the schema of the policy package whose source is in
// dir, as indented JSON.
func Generate(dir string) ([]byte, error) {
	info, err := sourceInfo(dir)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(policy.JSONSchema(info)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sourceInfo reads the doc comments and string constants of the package's
// non-test files.
func sourceInfo(dir string) (policy.SchemaInfo, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return policy.SchemaInfo{}, err
	}
	docs := map[string]string{}
	enums := map[string][]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			return policy.SchemaInfo{}, err
		}
		file, err := parser.ParseFile(fset, f, src, parser.ParseComments)
		if err != nil {
			return policy.SchemaInfo{}, err
		}
		for _, decl := range file.Decls {
			if gd, ok := decl.(*ast.GenDecl); ok {
				readDecl(gd, docs, enums)
			}
		}
	}
	describe := func(typeName, field string) string { return docs[typeName+"."+field] }
	return policy.SchemaInfo{Describe: describe, Enums: enums}, nil
}

// readDecl records a type's and its fields' comments ("Type." and
// "Type.Field"), and typed string constants.
func readDecl(gd *ast.GenDecl, docs map[string]string, enums map[string][]string) {
	for _, spec := range gd.Specs {
		switch s := spec.(type) {
		case *ast.TypeSpec:
			docs[s.Name.Name+"."] = text(cmpDoc(s.Doc, gd.Doc))
			if st, ok := s.Type.(*ast.StructType); ok {
				for _, f := range st.Fields.List {
					for _, n := range f.Names {
						docs[s.Name.Name+"."+n.Name] = text(cmpDoc(f.Doc, f.Comment))
					}
				}
			}
		case *ast.ValueSpec:
			typ, ok := s.Type.(*ast.Ident)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, v := range s.Values {
				if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if value, err := strconv.Unquote(lit.Value); err == nil {
						enums[typ.Name] = append(enums[typ.Name], value)
					}
				}
			}
		}
	}
}

func cmpDoc(a, b *ast.CommentGroup) *ast.CommentGroup {
	if a != nil {
		return a
	}
	return b
}

// fileNote is a comment that only names the file a type lives in: no
// help in an editor.
var fileNote = regexp.MustCompile(`^(see )?[a-z_]+\.go\.?$`)

// text is a comment as one line per paragraph.
func text(c *ast.CommentGroup) string {
	if c == nil || fileNote.MatchString(strings.TrimSpace(c.Text())) {
		return ""
	}
	var paras []string
	for p := range strings.SplitSeq(strings.TrimSpace(c.Text()), "\n\n") {
		paras = append(paras, strings.Join(strings.Fields(p), " "))
	}
	return strings.Join(paras, "\n\n")
}
