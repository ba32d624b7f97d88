// Package atstart trims the executable's pages once the package inits that run before it are done
// (exepages.Trim), so that the pages those inits touched do not add to the peak resident set while the
// rest start: import it for its side effect from a main package, as early in the import graph as it
// goes (its only dependency is exepages).
package atstart
