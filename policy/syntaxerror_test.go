package policy

import "testing"

// A YAML syntax error is reported where the problem is, with its column,
// not at the start of the collection around it (the YAML parser's own
// message names that line, and for the first collection of a file it
// was reported as 1:1).
func TestSyntaxErrorsPointAtTheirLine(t *testing.T) {
	for _, tc := range []struct{ name, policy, want string }{
		{"item indented off its sequence", "listeners:\n  - name: a\n    port: 1\n   bad: 2\n",
			`4:4: did not find expected '-' indicator (while parsing a block collection at 2:3)`},
		{"flow mapping not closed", "services:\n  a: { endpoints: [127.0.0.1:1] }\n  b: { endpoints: [127.0.0.1:2]\n  c: 1\n",
			`4:3: did not find expected ',' or '}' (while parsing a flow mapping at 3:6)`},
		{"key outdented under a sequence", "routes:\n  - a\n  - b\n x: 1\n",
			`4:2: did not find expected key (while parsing a block mapping at 1:1)`},
		{"tab indentation", "services:\n\ta: { endpoints: [127.0.0.1:1] }\n",
			`2:1: found character that cannot start any token`},
		{"colon in a plain value", "listeners:\n  - name: a: b\n",
			`2:12: mapping values are not allowed in this context`},
		{"quoted string not closed", "services:\n  a: { endpoints: [\"127.0.0.1:1] }\nroutes: []\n",
			`4:1: found unexpected end of stream at the end of the file (while scanning a quoted scalar at 2:20)`},
		{"flow sequence not closed at the end", "listeners: [\n",
			`2:1: did not find expected node content at the end of the file`},
		{"in the second document", "services: {}\n---\nroutes:\n  - a\n x: 1\n",
			`5:2: did not find expected key (while parsing a block mapping at 3:1)`},
		{"unknown anchor", "services:\n  a: *nope\n",
			`2:6: unknown anchor 'nope' referenced`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, writePolicy(t, map[string]string{"bad.yaml": tc.policy}), []string{tc.want})
		})
	}
}
