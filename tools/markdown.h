// Text into Markdown so that a CommonMark (GFM) reader gets back exactly the bytes given, whatever they are.
#ifndef TOOLS_MARKDOWN_H
#define TOOLS_MARKDOWN_H

// s as inline text (a table cell, a list item): the characters Markdown acts on backslash-escaped, control
// characters and the spaces at either end as numeric references (&#10;, &#32;), which a cell would otherwise lose.
// malloc'd.
char *md_text(const char *s);
// s as a code span (`s`, with a longer fence when s holds backticks), or md_text(s) when s holds a control
// character, which a code span would turn into a space. Not for table cells (a '|' would split the cell). malloc'd.
char *md_code(const char *s);

#endif
