package main

import (
	"cmp"
	"debug/buildinfo"
	"debug/elf"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
)

func main() {
	top := flag.Int("n", 30, "packages to list")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: binsize [-n N] BINARY (built with -ldflags -w, not -s)")
		os.Exit(2)
	}
	r, err := measure(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "binsize:", err)
		os.Exit(1)
	}
	r.print(os.Stdout, *top)
}

// report is a binary's loaded bytes by package and module.
type report struct {
	loaded  int64            // bytes of the sections loaded from the file
	code    map[string]int64 // package -> bytes of code (.text)
	other   map[string]int64 // package -> bytes of read-only and initialised data
	tables  int64            // .gopclntab
	unnamed int64            // loaded bytes no symbol accounts for (headers, padding, string data)
	modules []string         // module paths, longest first
}

func measure(path string) (*report, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("%s has no symbol table (built with -s?): %w", path, err)
	}
	r := &report{code: map[string]int64{}, other: map[string]int64{}}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS && s.Flags&elf.SHF_ALLOC != 0 {
			r.loaded += int64(s.Size)
		}
		if s.Name == ".gopclntab" {
			r.tables = int64(s.Size)
		}
	}
	var named int64
	for _, s := range syms {
		if int(s.Section) <= 0 || int(s.Section) >= len(f.Sections) || s.Size == 0 {
			continue
		}
		sec := f.Sections[s.Section]
		if sec.Type == elf.SHT_NOBITS || sec.Name == ".gopclntab" {
			continue // not in the file (.bss), or counted as tables
		}
		pkg := packageOf(s.Name)
		if sec.Name == ".text" {
			r.code[pkg] += int64(s.Size)
		} else {
			r.other[pkg] += int64(s.Size)
		}
		named += int64(s.Size)
	}
	r.unnamed = r.loaded - r.tables - named
	if bi, err := buildinfo.ReadFile(path); err == nil {
		r.modules = append(r.modules, bi.Main.Path)
		for _, d := range bi.Deps {
			r.modules = append(r.modules, d.Path)
		}
		slices.SortFunc(r.modules, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	}
	return r, nil
}

// packageOf finds the package a symbol belongs to: "net/http.(*conn).serve" -> "net/http",
// "type:*github.com/x/y.T" -> "github.com/x/y", "go:itab.*pkg.T,io.Writer" -> "pkg". Symbols of no package
// (go:string.*, go:func.*) are grouped under their prefix in brackets.
func packageOf(name string) string {
	for _, p := range []string{"type:", "go:itab.", "go:info.", "go:cuinfo."} {
		name = strings.TrimPrefix(name, p)
	}
	name = strings.TrimLeft(name, "*[]")
	if rest, ok := strings.CutPrefix(name, "go:"); ok {
		k, _, _ := strings.Cut(rest, ".")
		return "(go:" + k + ")"
	}
	if i := strings.IndexAny(name, ",{"); i > 0 {
		name = name[:i]
	}
	slash := strings.LastIndexByte(name, '/')
	dot := strings.IndexByte(name[slash+1:], '.')
	if dot < 0 {
		return "(" + name + ")"
	}
	return strings.ReplaceAll(name[:slash+1+dot], "%2e", ".")
}

// moduleOf is the module that holds pkg, or "std" for the standard library.
func (r *report) moduleOf(pkg string) string {
	for _, m := range r.modules {
		if pkg == m || strings.HasPrefix(pkg, m+"/") {
			return m
		}
	}
	if strings.HasPrefix(pkg, "(") {
		return "(runtime data)"
	}
	return "std"
}

type row struct {
	name              string
	code, other, with int64
}

func (r *report) rows() (pkgs, mods []row) {
	var totalCode int64
	for _, c := range r.code {
		totalCode += c
	}
	byPkg := map[string]*row{}
	for _, m := range []map[string]int64{r.code, r.other} {
		for p := range m {
			if byPkg[p] == nil {
				byPkg[p] = &row{name: p, code: r.code[p], other: r.other[p]}
			}
		}
	}
	byMod := map[string]*row{}
	for _, p := range byPkg {
		p.with = p.code + p.other
		if totalCode > 0 {
			p.with += r.tables * p.code / totalCode
		}
		pkgs = append(pkgs, *p)
		m := r.moduleOf(p.name)
		if byMod[m] == nil {
			byMod[m] = &row{name: m}
		}
		byMod[m].code += p.code
		byMod[m].other += p.other
		byMod[m].with += p.with
	}
	for _, m := range byMod {
		mods = append(mods, *m)
	}
	desc := func(a, b row) int { return cmp.Or(cmp.Compare(b.with, a.with), cmp.Compare(a.name, b.name)) }
	slices.SortFunc(pkgs, desc)
	slices.SortFunc(mods, desc)
	return pkgs, mods
}

func (r *report) print(w *os.File, top int) {
	pkgs, mods := r.rows()
	kb := func(n int64) string { return fmt.Sprintf("%7.0f", float64(n)/1024) }
	fmt.Fprintf(w, "loaded from the file: %s KiB (function tables %s KiB, shared out below in proportion to code; type descriptors, strings and padding, not attributed: %s KiB)\n\n",
		strings.TrimSpace(kb(r.loaded)), strings.TrimSpace(kb(r.tables)), strings.TrimSpace(kb(r.unnamed)))
	fmt.Fprintf(w, "%7s %7s %7s  %s\n", "KiB", "code", "data", "module")
	for _, m := range mods {
		fmt.Fprintf(w, "%s %s %s  %s\n", kb(m.with), kb(m.code), kb(m.other), m.name)
	}
	fmt.Fprintf(w, "\n%7s %7s %7s  %s (top %d)\n", "KiB", "code", "data", "package", top)
	for i, p := range pkgs {
		if i == top {
			break
		}
		fmt.Fprintf(w, "%s %s %s  %s\n", kb(p.with), kb(p.code), kb(p.other), p.name)
	}
	fmt.Fprintln(w)
}
