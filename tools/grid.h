// A sweep's grid: axes over training flags, each a list of values or a range, and the names their runs get.
//   NAME=V1,V2,...       the values as written (';' separates them instead when any contains a comma:
//                        "optim-args=momentum=0.9,nesterov=1;momentum=0")
//   NAME=log:LO:HI:N     N values from LO to HI, evenly spaced in log (LO, HI > 0), printed with 4 digits
//   NAME=lin:LO:HI:N     N values from LO to HI, evenly spaced
// A value's text is what the run's flag gets and what its directory is named by, so the name says exactly what
// ran.
#ifndef TOOLS_GRID_H
#define TOOLS_GRID_H

#define GRID_MAX_VALUES 1000

typedef struct {
    char *name;    // the flag, without "--"
    int n;
    char **values; // [n], malloc'd
} GridAxis;

// Parses "NAME=VALUES" (the text after --grid); fatal, quoting it, when it is malformed, empty, has a repeated
// value or more than GRID_MAX_VALUES values.
void grid_axis_parse(GridAxis *a, const char *spec);
void grid_axis_free(GridAxis *a);
// s as a file name: bytes outside [A-Za-z0-9._+=-] (and a leading '.') written %XX, so that names stay distinct
// and readable ("lr=0.01", "optim-args=momentum%3D0.9"). malloc'd.
char *grid_escape(const char *s);

#endif
