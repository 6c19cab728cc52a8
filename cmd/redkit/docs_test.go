package main

// TestDocs runs every command example of README.md and docs/*.md, so the
// documentation cannot go stale.
//
// The examples are the ```console blocks: a line "$ CMD" is a command,
// the lines after it up to the next "$ " line are what it prints (stdout
// and stderr: each line shown must appear, in order, in one of them; a
// line "..." stands for lines left out). "$ echo $?" followed by a number
// is the exit code of the command before it (0 otherwise). A command may
// be "export VAR=VALUE", set for the commands after it, and may use
// "VAR=VALUE" prefixes, pipes "|" and redirections "> FILE", "< FILE".
// An HTML comment before a block may give commands run first and not
// shown ("<!-- setup:" then one command a line, "-->"), or say why the
// block cannot run here ("<!-- not run: REASON -->"). Every fenced block
// of console, sh, shell or bash (and any other block naming redkit) that
// is neither run nor marked fails the test.
//
// Each document becomes one testscript (github.com/rogpeppe/go-internal/
// testscript), its blocks in order in one $WORK directory holding
// testdata/sample.rdb, with two redis-servers of its own standing for the
// documented 127.0.0.1:6379 and 127.0.0.1:6380 and, when the document
// names s3://, a versitygw with a bucket "backups" standing for
// http://127.0.0.1:7070 with AWS's documented example keys. Addresses and
// keys are replaced in commands, and back in their output, before the
// lines are compared. Output that differs from run to run (backup ids,
// instants, durations, sizes, rates) is compared in shape only.
//
// redkit itself runs as the test binary (TestMain runs main when
// REDKIT_TEST_MAIN=1), in the script's environment.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/internal/s3test"
)

// The documented stand-ins the test maps to its own servers.
const (
	docAddrA     = "127.0.0.1:6379"
	docAddrB     = "127.0.0.1:6380"
	docS3        = "http://127.0.0.1:7070"
	docAccessKey = "AKIAIOSFODNN7EXAMPLE"
	docSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// docBlock is one fenced block of a document.
type docBlock struct {
	line    int    // of the opening fence, 1-based
	info    string // the fence's info string: console, sh, ...
	body    []string
	setup   []string // commands from a "<!-- setup:" comment before it
	notRun  string   // the reason from a "<!-- not run:" comment before it
	marked  bool     // notRun was given
	command bool     // an example of commands (console/sh/shell/bash, or names redkit)
}

var fenceRe = regexp.MustCompile("^(```+|~~~+)\\s*([A-Za-z0-9_+-]*)")

// parseDocBlocks returns the fenced blocks of a markdown text with the
// HTML comment that precedes each (blank lines allowed between).
func parseDocBlocks(text string) ([]docBlock, error) {
	lines := strings.Split(text, "\n")
	var blocks []docBlock
	var comment []string // the last HTML comment, until a non-blank line that is not a fence
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		trim := strings.TrimSpace(l)
		if strings.HasPrefix(trim, "<!--") {
			comment = nil
			for j := i; j < len(lines); j++ {
				comment = append(comment, lines[j])
				if strings.Contains(lines[j], "-->") {
					i = j
					break
				}
				if j == len(lines)-1 {
					return nil, fmt.Errorf("line %d: HTML comment not closed", i+1)
				}
			}
			continue
		}
		m := fenceRe.FindStringSubmatch(trim)
		if m == nil {
			if trim != "" {
				comment = nil
			}
			continue
		}
		b := docBlock{line: i + 1, info: m[2]}
		closed := false
		for i++; i < len(lines); i++ {
			if strings.HasPrefix(strings.TrimSpace(lines[i]), m[1]) {
				closed = true
				break
			}
			b.body = append(b.body, lines[i])
		}
		if !closed {
			return nil, fmt.Errorf("line %d: code block not closed", b.line)
		}
		switch b.info {
		case "console", "sh", "shell", "bash":
			b.command = true
		default:
			b.command = regexp.MustCompile(`\bredkit\b`).MatchString(strings.Join(b.body, "\n"))
		}
		c := strings.TrimSpace(strings.Join(comment, "\n"))
		c = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(c, "<!--"), "-->"))
		switch {
		case strings.HasPrefix(c, "not run:"):
			b.marked, b.notRun = true, strings.TrimSpace(strings.TrimPrefix(c, "not run:"))
			if b.notRun == "" {
				return nil, fmt.Errorf("line %d: \"not run:\" without a reason", b.line)
			}
		case strings.HasPrefix(c, "setup:"):
			for _, s := range strings.Split(strings.TrimPrefix(c, "setup:"), "\n") {
				if s = strings.TrimSpace(s); s != "" {
					b.setup = append(b.setup, s)
				}
			}
		}
		comment = nil
		blocks = append(blocks, b)
	}
	return blocks, nil
}

// docStep is one command of a console block and what it shows.
type docStep struct {
	cmd  string
	want []string
	code int
}

// consoleSteps splits a console block into its commands.
func consoleSteps(body []string) ([]docStep, error) {
	var steps []docStep
	for _, l := range body {
		if cmd, ok := strings.CutPrefix(l, "$ "); ok {
			steps = append(steps, docStep{cmd: strings.TrimSpace(cmd)})
			continue
		}
		if len(steps) == 0 {
			if strings.TrimSpace(l) == "" {
				continue
			}
			return nil, fmt.Errorf("output %q before any \"$ \" command", l)
		}
		last := &steps[len(steps)-1]
		last.want = append(last.want, l)
	}
	// "$ echo $?" gives the exit code of the command before it.
	var out []docStep
	for _, s := range steps {
		if s.cmd == "echo $?" {
			if len(out) == 0 || len(s.want) != 1 {
				return nil, fmt.Errorf("\"echo $?\" must follow a command and show one number")
			}
			n, err := strconv.Atoi(strings.TrimSpace(s.want[0]))
			if err != nil {
				return nil, fmt.Errorf("\"echo $?\" shows %q", s.want[0])
			}
			out[len(out)-1].code = n
			continue
		}
		for len(s.want) > 0 && strings.TrimSpace(s.want[len(s.want)-1]) == "" {
			s.want = s.want[:len(s.want)-1]
		}
		out = append(out, s)
	}
	return out, nil
}

// tsQuote quotes s as one testscript argument.
func tsQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// docScript turns a document's blocks into a testscript: "doc CODE LINE
// [WANTFILE]" per command. It returns an empty script when nothing runs,
// and an error naming every command block neither run nor marked.
func docScript(name string, blocks []docBlock) (string, error) {
	var script, files strings.Builder
	var unmarked []string
	n := 0
	for _, b := range blocks {
		if b.marked {
			continue
		}
		if !b.command {
			continue
		}
		if b.info != "console" {
			unmarked = append(unmarked, fmt.Sprintf("%s:%d: a ```%s block of commands is neither a ```console block (run) nor marked <!-- not run: REASON -->", name, b.line, b.info))
			continue
		}
		steps, err := consoleSteps(b.body)
		if err != nil {
			return "", fmt.Errorf("%s:%d: %v", name, b.line, err)
		}
		fmt.Fprintf(&script, "\n# %s:%d\n", name, b.line)
		for _, s := range b.setup {
			fmt.Fprintf(&script, "doc 0 %s\n", tsQuote(s))
		}
		for _, s := range steps {
			fmt.Fprintf(&script, "doc %d %s", s.code, tsQuote(s.cmd))
			if len(s.want) > 0 {
				n++
				f := fmt.Sprintf("want/%d", n)
				fmt.Fprintf(&script, " %s", f)
				fmt.Fprintf(&files, "-- %s --\n%s\n", f, strings.Join(s.want, "\n"))
			}
			script.WriteString("\n")
		}
	}
	if len(unmarked) > 0 {
		return "", errors.New(strings.Join(unmarked, "\n"))
	}
	if script.Len() == 0 {
		return "", nil
	}
	return script.String() + files.String(), nil
}

// docEnv is what a document's script runs against, written into its
// $WORK as .docenv.json.
type docEnv struct {
	Replace [][2]string // documented -> real, in commands; real -> documented in output
	Env     []string    // AWS credentials and endpoint for versitygw
	Sample  string      // testdata/sample.rdb
}

func TestDocs(t *testing.T) {
	root := filepath.Join("..", "..")
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append([]string{filepath.Join(root, "README.md")}, docs...)
	sample, err := filepath.Abs(filepath.Join(root, "testdata", "sample.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		if os.Getenv("REDKIT_REQUIRE_REDIS") == "1" || os.Getenv("CI") == "true" {
			t.Fatal("redis-cli not installed (the documents' examples use it): run ./scripts/test.sh, which installs redis-tools")
		}
		t.Skip("redis-cli not installed (the documents' examples use it): run ./scripts/test.sh, which installs redis-tools")
	}
	dir := t.TempDir()
	var files []string
	var problems []string
	for _, path := range docs {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, path)
		problems = append(problems, docLinkProblems(root, rel, string(text))...)
		blocks, err := parseDocBlocks(string(text))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", rel, err))
			continue
		}
		script, err := docScript(rel, blocks)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if script == "" {
			continue
		}
		env := docEnv{Sample: sample}
		a := redistest.Start(t, redistest.Options{})
		b := redistest.Start(t, redistest.Options{})
		env.Replace = [][2]string{
			{docAddrA, a.Addr()}, {docAddrB, b.Addr()},
			{"-p 6379", "-p " + strconv.Itoa(a.Port())}, {"-p 6380", "-p " + strconv.Itoa(b.Port())},
		}
		if strings.Contains(string(text), "s3://") {
			s3 := s3test.Start(t, "backups")
			env.Replace = append(env.Replace, [][2]string{
				{docS3, s3.Endpoint}, {docAccessKey, s3.AccessKey}, {docSecretKey, s3.SecretKey},
			}...)
		}
		j, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(strings.ReplaceAll(rel, string(filepath.Separator), "-"), ".md")
		f := filepath.Join(dir, name+".txtar")
		if err := os.WriteFile(f, []byte(script+"-- .docenv.json --\n"+string(j)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(problems) > 0 {
		t.Fatalf("documentation examples:\n%s", strings.Join(problems, "\n"))
	}
	testscript.Run(t, testscript.Params{
		Files: files,
		Setup: func(e *testscript.Env) error {
			b, err := os.ReadFile(filepath.Join(e.WorkDir, ".docenv.json"))
			if err != nil {
				return err
			}
			var env docEnv
			if err := json.Unmarshal(b, &env); err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Join(e.WorkDir, "testdata"), 0o755); err != nil {
				return err
			}
			s, err := os.ReadFile(env.Sample)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(e.WorkDir, "testdata", "sample.rdb"), s, 0o644); err != nil {
				return err
			}
			// Paths the documents use for a server's files and for
			// backups live in $WORK.
			for _, d := range []string{"/var/lib/redis", "/var/backups"} {
				if err := os.MkdirAll(filepath.Join(e.WorkDir, d), 0o755); err != nil {
					return err
				}
				env.Replace = append(env.Replace, [2]string{d + "/", filepath.Join(e.WorkDir, d) + "/"})
			}
			// redkit on PATH too, for commands that run it (timeout).
			bin := filepath.Join(e.WorkDir, ".bin")
			if err := os.Mkdir(bin, 0o755); err != nil {
				return err
			}
			if err := os.Symlink(os.Args[0], filepath.Join(bin, "redkit")); err != nil {
				return err
			}
			e.Values["docenv"] = &docRun{docEnv: env, work: e.WorkDir, bin: bin}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"doc": cmdDoc,
		},
	})
}

// docRun is a script's state: its environment and the variables its
// commands exported.
type docRun struct {
	docEnv
	work    string
	bin     string // holds redkit, first on PATH
	exports []string
}

// cmdDoc runs "doc CODE LINE [WANTFILE]": the shell line LINE must exit
// with CODE and print the lines of WANTFILE.
func cmdDoc(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: doc CODE LINE [WANTFILE]")
	}
	st := ts.Value("docenv").(*docRun)
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("doc: bad exit code %q", args[0])
	}
	line := args[1]
	for _, r := range st.Replace {
		line = strings.ReplaceAll(line, r[0], r[1])
	}
	stdout, stderr, code, err := st.runLine(line)
	if err != nil {
		ts.Fatalf("%s: %v", args[1], err)
	}
	back := func(s string) string {
		for _, r := range st.Replace {
			s = strings.ReplaceAll(s, r[1], r[0])
		}
		return s
	}
	stdout, stderr = back(stdout), back(stderr)
	if stdout != "" {
		ts.Logf("[stdout]\n%s", stdout)
	}
	if stderr != "" {
		ts.Logf("[stderr]\n%s", stderr)
	}
	if code != want && os.Getenv("REDKIT_DOCS_SHOW") == "" {
		ts.Fatalf("%s: exit code %d, the documentation says %d", args[1], code, want)
	}
	// REDKIT_DOCS_SHOW=1 skips the output checks: to write a document,
	// run go test -v -run TestDocs with it and copy the output shown.
	if len(args) == 3 && os.Getenv("REDKIT_DOCS_SHOW") == "" {
		if err := docOutputMatches(ts.ReadFile(args[2]), stdout, stderr); err != nil {
			ts.Fatalf("%s: %v", args[1], err)
		}
	}
}

// runLine runs one shell line: "export V=X", or commands joined by "|",
// each with optional V=X prefixes and "> FILE" or "< FILE". It returns
// the last command's exit code.
func (st *docRun) runLine(line string) (stdout, stderr string, code int, err error) {
	words, err := shellWords(line)
	if err != nil {
		return "", "", 0, err
	}
	if len(words) > 0 && words[0] == "export" {
		for _, w := range words[1:] {
			if !strings.Contains(w, "=") {
				return "", "", 0, fmt.Errorf("export %q: want VAR=VALUE", w)
			}
			st.exports = append(st.exports, w)
		}
		return "", "", 0, nil
	}
	var stages [][]string
	cur := []string{}
	for _, w := range words {
		if w == "|" {
			stages = append(stages, cur)
			cur = []string{}
			continue
		}
		cur = append(cur, w)
	}
	stages = append(stages, cur)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var errBuf strings.Builder
	var outBuf strings.Builder
	var cmds []*exec.Cmd
	var prev io.Reader
	var toClose []io.Closer
	var pipes []*os.File // closed in this process once every command started
	defer func() {
		for _, p := range pipes {
			p.Close()
		}
		for _, c := range toClose {
			c.Close()
		}
	}()
	for i, s := range stages {
		var env []string
		for len(s) > 0 && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`).MatchString(s[0]) {
			env, s = append(env, s[0]), s[1:]
		}
		var in io.Reader = prev
		var out io.Writer
		var args []string
		for j := 0; j < len(s); j++ {
			switch s[j] {
			case ">", "<":
				if j+1 == len(s) {
					return "", "", 0, fmt.Errorf("%s without a file", s[j])
				}
				p := s[j+1]
				if !filepath.IsAbs(p) {
					p = filepath.Join(st.work, p)
				}
				if s[j] == ">" {
					f, err := os.Create(p)
					if err != nil {
						return "", "", 0, err
					}
					toClose = append(toClose, f)
					out = f
				} else {
					f, err := os.Open(p)
					if err != nil {
						return "", "", 0, err
					}
					toClose = append(toClose, f)
					in = f
				}
				j++
			default:
				args = append(args, s[j])
			}
		}
		if len(args) == 0 {
			return "", "", 0, fmt.Errorf("empty command")
		}
		prog := args[0]
		if prog == "redkit" {
			prog = os.Args[0]
		}
		cmd := exec.CommandContext(ctx, prog, args[1:]...)
		cmd.Dir = st.work
		cmd.Env = st.environ(env)
		if in == nil {
			in = strings.NewReader("")
		}
		cmd.Stdin = in
		cmd.Stderr = &errBuf
		if i < len(stages)-1 {
			r, w, err := os.Pipe()
			if err != nil {
				return "", "", 0, err
			}
			pipes = append(pipes, r, w)
			if out == nil {
				out = w
			}
			prev = r
		} else if out == nil {
			out = &outBuf
		}
		cmd.Stdout = out
		if err := cmd.Start(); err != nil {
			return "", "", 0, err
		}
		cmds = append(cmds, cmd)
	}
	for _, p := range pipes {
		p.Close()
	}
	pipes = nil
	for i, cmd := range cmds {
		werr := cmd.Wait()
		if i == len(cmds)-1 {
			var ee *exec.ExitError
			switch {
			case werr == nil:
			case errors.As(werr, &ee):
				code = ee.ExitCode()
			default:
				return "", "", 0, werr
			}
		}
	}
	if ctx.Err() != nil {
		return outBuf.String(), errBuf.String(), code, fmt.Errorf("still running after 90 s")
	}
	return outBuf.String(), errBuf.String(), code, nil
}

// environ is the environment of a documented command: the test's own
// without REDKIT_*, REDISCLI_AUTH and AWS_* variables, HOME in $WORK, then
// the script's exports and the command's prefixes.
func (st *docRun) environ(prefix []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "REDKIT_") || strings.HasPrefix(kv, "REDISCLI_AUTH=") || strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			kv = "PATH=" + st.bin + string(filepath.ListSeparator) + p
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+st.work, "REDKIT_TEST_MAIN=1")
	// Both come from the command line, its addresses already replaced.
	env = append(env, st.exports...)
	env = append(env, prefix...)
	return env
}

// shellWords splits a line as sh does for the simple lines the
// documents use: words, '...' and "..." quoting, \ escapes, and the
// operators |, > and < as words of their own.
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		case c == '|' || c == '>' || c == '<':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
			words = append(words, string(c))
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unclosed '")
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := strings.IndexByte(line[i+1:], '"')
			if j < 0 {
				return nil, fmt.Errorf("unclosed \"")
			}
			s := line[i+1 : i+1+j]
			if strings.ContainsAny(s, "$`\\") {
				return nil, fmt.Errorf("\"...\" with $, ` or \\: not supported here")
			}
			cur.WriteString(s)
			i += j + 1
			inWord = true
		case c == '\\' && i+1 < len(line):
			cur.WriteByte(line[i+1])
			i++
			inWord = true
		case c == '$' || c == '`' || c == ';' || c == '&' || c == '*' || c == '(':
			return nil, fmt.Errorf("%q: shell syntax not supported here", c)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// The parts of an output line that differ from run to run, compared in
// shape only.
var docVolatile = []struct {
	re  *regexp.Regexp
	out string
}{
	{regexp.MustCompile(`\d{8}T\d{6}Z-[0-9a-f]{6}`), "<ID>"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?`), "<TIME>"},
	{regexp.MustCompile(`\b\d{4}-\d\d-\d\d\b`), "<DATE>"},
	{regexp.MustCompile(`\b\d{4}-W\d\d\b`), "<WEEK>"},
	{regexp.MustCompile(`\b[0-9a-f]{40}\b`), "<HEX40>"},
	{regexp.MustCompile(`SHA-256 [0-9a-f]{16}\b`), "SHA-256 <HEX16>"},
	{regexp.MustCompile(`\b(seconds|\w*bytes|used-mem|ctime)([=:]\s*)\d+(\.\d+)?`), "$1$2<N>"},
	// Replication offsets move with the master's PINGs (every 10 s).
	{regexp.MustCompile(`\b(offset|goal)=\d+`), "$1=<N>"},
	{regexp.MustCompile(`"(seconds|\w*bytes)":"?\d+(\.\d+)?"?`), `"$1":<N>`},
	{regexp.MustCompile(`\b\d+(\.\d+)?\s?(B|kB|KB|KiB|MB|MiB|GB|GiB|bytes)(/s)?\b`), "<SIZE>"},
	{regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|us|ms|s|m|h)\b`), "<DUR>"},
	{regexp.MustCompile(`(<DUR>)+`), "<DUR>"},
	{regexp.MustCompile(`\b\d+(\.\d+)?\s?(keys|ops|cmd)/s\b`), "<RATE>"},
	{regexp.MustCompile(`\s+`), " "},
}

func docNormalize(s string) string {
	for _, v := range docVolatile {
		s = v.re.ReplaceAllString(s, v.out)
	}
	return strings.TrimSpace(s)
}

// docOutputMatches checks that every line of want but "..." appears, in
// order, in stdout or in stderr (each read from where the line before
// was found in it).
func docOutputMatches(want, stdout, stderr string) error {
	split := func(s string) []string {
		var out []string
		for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
			out = append(out, docNormalize(l))
		}
		return out
	}
	streams := [][]string{split(stdout), split(stderr)}
	pos := []int{0, 0}
	for _, w := range strings.Split(strings.TrimRight(want, "\n"), "\n") {
		if strings.TrimSpace(w) == "..." || strings.TrimSpace(w) == "" {
			continue
		}
		nw := docNormalize(w)
		found := false
		for k, lines := range streams {
			for i := pos[k]; i < len(lines); i++ {
				if lines[i] == nw {
					pos[k], found = i+1, true
					break
				}
			}
			if found {
				break
			}
		}
		if !found {
			return fmt.Errorf("the documentation shows the line\n\t%s\nwhich the output lacks (compared as %q)", w, nw)
		}
	}
	return nil
}

var (
	docLinkRe    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	docHeadingRe = regexp.MustCompile(`(?m)^#+\s+(.+)$`)
)

// docAnchor is the anchor GitHub gives a heading.
func docAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ' || r == '-':
			b.WriteRune('-')
		case r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// docLinkProblems checks the relative links of the document rel: the
// file each names exists, and so does the heading its #anchor names.
func docLinkProblems(root, rel, text string) []string {
	var problems []string
	for _, m := range docLinkRe.FindAllStringSubmatch(text, -1) {
		target := m[1]
		if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		file, anchor, _ := strings.Cut(target, "#")
		path := filepath.Join(root, filepath.Dir(rel), file)
		if file == "" {
			path = filepath.Join(root, rel)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
				continue
			}
			problems = append(problems, fmt.Sprintf("%s: link %s: %v", rel, target, err))
			continue
		}
		if anchor == "" {
			continue
		}
		found := false
		for _, h := range docHeadingRe.FindAllStringSubmatch(string(b), -1) {
			if docAnchor(strings.ReplaceAll(h[1], "`", "")) == anchor {
				found = true
				break
			}
		}
		if !found {
			problems = append(problems, fmt.Sprintf("%s: link %s: no such heading", rel, target))
		}
	}
	return problems
}

// TestDocsHarness checks TestDocs' own parts: blocks neither run nor
// marked are refused, exit codes and output lines are read as shown, and
// output differing only in volatile parts matches while other output
// does not.
func TestDocsHarness(t *testing.T) {
	doc := "intro\n\n<!-- not run: needs a cluster -->\n```sh\nredkit sync --to redis://c:7000\n```\n\n" +
		"<!-- setup:\nredis-cli -p 6379 SET a 1\n-->\n```console\n$ redkit check x.rdb\nx.rdb: ok\n...\n$ echo $?\n3\n```\n\n" +
		"```json\n{\"a\": 1}\n```\n"
	blocks, err := parseDocBlocks(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 3 || !blocks[0].marked || blocks[1].marked || len(blocks[1].setup) != 1 || blocks[2].command {
		t.Fatalf("blocks = %+v", blocks)
	}
	script, err := docScript("d.md", blocks)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"doc 0 'redis-cli -p 6379 SET a 1'\n", "doc 3 'redkit check x.rdb' want/1\n", "-- want/1 --\nx.rdb: ok\n...\n"} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	for _, bad := range []string{
		"```sh\nredkit check x.rdb\n```\n",          // a command block not marked
		"```text\n$ redkit check x.rdb\n```\n",      // another block naming redkit
		"<!-- not run: -->\n```sh\nredkit x\n```\n", // a mark without a reason
	} {
		blocks, err := parseDocBlocks(bad)
		if err == nil {
			_, err = docScript("d.md", blocks)
		}
		if err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}

	out := "ID  STARTED\n20261206T215623Z-d3bdca  2026-12-07 01:02:03  1096 keys, 14.4 KiB in 0.3s\n"
	if err := docOutputMatches("...\n20261206T215622Z-f3d121  2026-12-06 21:56:22  1096 keys, 13.0 KiB in 0.1s", out, ""); err != nil {
		t.Errorf("volatile parts: %v", err)
	}
	if err := docOutputMatches("20261206T215622Z-f3d121  2026-12-06 21:56:22  1095 keys, 13.0 KiB in 0.1s", out, ""); err == nil {
		t.Error("a different key count matched")
	}
	if err := docOutputMatches("b\na", "a\nb\n", ""); err == nil {
		t.Error("lines out of order matched")
	}
	if err := docOutputMatches("a\nerr", "a\n", "err\n"); err != nil {
		t.Errorf("stdout and stderr: %v", err)
	}
	if p := docLinkProblems(filepath.Join("..", ".."), "README.md", "[x](docs/nosuch.md) [y](LICENSE) [z](README.md#license) [w](README.md#nosuch)"); len(p) != 2 {
		t.Errorf("link problems = %q, want nosuch.md and #nosuch", p)
	}
}
