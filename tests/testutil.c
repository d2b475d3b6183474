// Test support: fatal-error checks in a forked child, temporary directories and files (plain or gzip).
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <cjson/cJSON.h>
#include "nn/check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

void expect_fatal(void (*fn)(void *arg), void *arg, const char *want, ...) {
    int fd[2];
    assert_int_equal(0, pipe(fd));
    fflush(stdout), fflush(stderr); // the child must not write the parent's buffered output a second time
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        // cmocka's handlers would longjmp into the test runner and go on running tests here: a crash stays a crash
        static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
        for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) signal(sigs[i], SIG_DFL);
        close(fd[0]);
        dup2(fd[1], STDERR_FILENO);
        close(fd[1]);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, STDOUT_FILENO);
        alarm(60);
        fn(arg);
        _exit(0);
    }
    close(fd[1]);
    char msg[8192], chunk[4096];
    size_t n = 0;
    for (;;) { // read to the end, keeping the first 8 KB, so a chatty child never blocks on a full pipe
        ssize_t r = read(fd[0], chunk, sizeof chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        size_t keep = (size_t)r < sizeof msg - 1 - n ? (size_t)r : sizeof msg - 1 - n;
        memcpy(msg + n, chunk, keep);
        n += keep;
    }
    close(fd[0]);
    msg[n] = '\0';
    int status;
    while (waitpid(pid, &status, 0) < 0) assert_int_equal(EINTR, errno);

    if (n == 0) printf("# (nothing on stderr)\n");
    for (char *line = msg, *end; *line; line = end) {
        end = strchr(line, '\n');
        end = end ? end + 1 : line + strlen(line);
        printf("# %.*s\n", (int)(end - line - (end[-1] == '\n')), line);
    }
    if (WIFSIGNALED(status)) fail_msg("the child was killed by signal %d instead of failing with a message",
                                      WTERMSIG(status));
    if (!WIFEXITED(status) || WEXITSTATUS(status) == 0) fail_msg("the child exited with status 0: no error raised");
    va_list ap;
    va_start(ap, want);
    for (const char *s = want; s; s = va_arg(ap, const char *))
        if (!strstr(msg, s)) fail_msg("the error message lacks \"%s\"", s);
    va_end(ap);
}

char *tu_mkdtemp(void) {
    const char *tmp = getenv("TMPDIR");
    char *dir = tu_path(tmp && *tmp ? tmp : "/tmp", "nnopt-test.XXXXXX");
    NN_CHECK(mkdtemp(dir), "cannot create a temporary directory '%s': %s", dir, strerror(errno));
    return dir;
}

char *tu_path(const char *dir, const char *rel) { return nn_join_path(dir, rel); }

char *tu_write(const char *dir, const char *rel, const void *data, size_t len, int gz) {
    char *path = tu_path(dir, rel);
    for (char *s = path + strlen(dir) + 1; (s = strchr(s, '/')); s++) { // mkdir -p of rel's directories
        *s = '\0';
        NN_CHECK(mkdir(path, 0755) == 0 || errno == EEXIST, "cannot create '%s': %s", path, strerror(errno));
        *s = '/';
    }
    if (gz) {
        gzFile f = gzopen(path, "wb9");
        NN_CHECK(f, "cannot create '%s'", path);
        NN_CHECK(len == 0 || gzwrite(f, data, (unsigned)len) == (int)len, "writing '%s' failed", path);
        NN_CHECK(gzclose(f) == Z_OK, "closing '%s' failed", path);
    } else {
        FILE *f = nn_fopen(path, "wb");
        NN_CHECK(fwrite(data, 1, len, f) == len, "writing '%s' failed: %s", path, strerror(errno));
        nn_fclose(f, path);
    }
    return path;
}

void tu_rmtree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        NN_CHECK(d, "cannot list '%s': %s", path, strerror(errno));
        for (struct dirent *e; (e = readdir(d));) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char *p = tu_path(path, e->d_name);
            tu_rmtree(p);
            free(p);
        }
        closedir(d);
        NN_CHECK(rmdir(path) == 0, "cannot remove '%s': %s", path, strerror(errno));
    } else {
        NN_CHECK(unlink(path) == 0, "cannot remove '%s': %s", path, strerror(errno));
    }
}

int tu_run_nnopt(char **out, const char *args) {
    const char *nnopt = getenv("NNOPT") ? getenv("NNOPT") : "./nnopt";
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", nnopt, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0, got;
    char *buf = nn_malloc(cap);
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap) buf = nn_realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

void tu_expect_failure(const char *args, const char *message) {
    char *out;
    int rc = tu_run_nnopt(&out, args);
    const char *msg = strstr(out, "error") ? strstr(out, "error") : out;
    printf("# nnopt %s -> exit %d: %.*s\n", args, rc, (int)strcspn(msg, "\n"), msg);
    assert_int_not_equal(rc, 0);
    if (!strstr(out, message)) printf("# expected '%s' in:\n%s\n", message, out);
    assert_non_null(strstr(out, message));
    free(out);
}

char *tu_read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = nn_malloc((size_t)n + 1);
    s[fread(s, 1, (size_t)n, f)] = '\0';
    fclose(f);
    return s;
}

int tu_count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

char *tu_json_value(const char *json, const char *key) {
    cJSON *obj = cJSON_Parse(json);
    assert_non_null(obj);
    cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!item) printf("# no key '%s' in %s\n", key, json);
    assert_non_null(item);
    char *text = cJSON_PrintUnformatted(item);
    cJSON_Delete(obj);
    return text;
}

void tu_assert_json(const char *json, const char *key, const char *want) {
    char *v = tu_json_value(json, key);
    if (strcmp(v, want) != 0) printf("# %s is %s, expected %s\n", key, v, want);
    assert_string_equal(v, want);
    free(v);
}

char *tu_shell_quote(const char *s) {
    char *q = malloc(4 * strlen(s) + 3), *o = q;
    *o++ = '\'';
    for (; *s; s++) {
        if (*s == '\'') memcpy(o, "'\\''", 4), o += 4;
        else *o++ = *s;
    }
    *o++ = '\'', *o = '\0';
    return q;
}
