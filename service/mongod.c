#define SUB_LOG_DOMAIN "mongod"
#include "subsetter/mongod.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "subsetter/log.h"
#include "subsetter/strutil.h"

/* How long a process waits for another one that is starting or stopping the instance.
 * A first start on a slow disk takes a few seconds; two minutes means something is stuck. */
#define LOCK_WAIT_SECONDS 120
/* mongod flushes and closes its files on SIGTERM; give it time before SIGKILL. */
#define STOP_GRACE_SECONDS 30
/* Another process may grab the free port between our probe and mongod's bind. */
#define START_ATTEMPTS 3

typedef struct {
    char *run_dir;
    char *lock_path;
    char *state_path;
    char *pid_path;
    char *dbpath;
    char *log_dir;
    char *logpath;
} paths_t;

static void paths_release(paths_t *p)
{
    free(p->run_dir);
    free(p->lock_path);
    free(p->state_path);
    free(p->pid_path);
    free(p->dbpath);
    free(p->log_dir);
    free(p->logpath);
    memset(p, 0, sizeof *p);
}

static bool paths_init(const sub_config_t *cfg, paths_t *p, sub_error_t *err)
{
    const char *home = sub_config_get(cfg, SUB_SET_HOME);
    p->run_dir = sub_path_join(home, "var/run");
    p->lock_path = sub_path_join(p->run_dir, "mongod.lock");
    p->state_path = sub_path_join(p->run_dir, "mongod.state");
    p->pid_path = sub_path_join(p->run_dir, "mongod.pid");
    p->dbpath = sub_path_join(home, "var/lib/mongo");
    p->log_dir = sub_path_join(home, "var/log");
    p->logpath = sub_path_join(p->log_dir, "mongod.log");
    return sub_mkdir_p(p->run_dir, err) && sub_mkdir_p(p->dbpath, err) &&
           sub_mkdir_p(p->log_dir, err);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* O_CLOEXEC matters: a forked mongod must not inherit the lock and hold it forever. */
static bool lock_acquire(const char *path, int *fd_out, sub_error_t *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return sub_error_set(err, SUB_E_IO, errno, "open %s: %s", path, strerror(errno));
    for (int waited = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; waited += 50) {
        if (errno != EWOULDBLOCK || waited >= LOCK_WAIT_SECONDS * 1000) {
            int e = errno;
            close(fd);
            return sub_error_set(err, SUB_E_MONGOD, e, "lock %s: %s", path,
                                 e == EWOULDBLOCK ? "held by another subsetter process for over "
                                                    "120 s"
                                                  : strerror(e));
        }
        sleep_ms(50);
    }
    *fd_out = fd;
    return true;
}

static void lock_release(int fd)
{
    if (fd >= 0)
        close(fd); /* closing drops the flock */
}

static bool state_read(const char *path, int *pid, int *port)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fscanf(f, "%d %d", pid, port) == 2 && *pid > 0 && *port > 0 && *port < 65536;
    fclose(f);
    return ok;
}

static bool state_write(const char *path, int pid, int port, sub_error_t *err)
{
    char *tmp = sub_xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    bool ok = f && fprintf(f, "%d %d\n", pid, port) > 0;
    if (f && fclose(f) != 0)
        ok = false;
    if (ok && rename(tmp, path) != 0)
        ok = false;
    if (!ok) {
        sub_error_set(err, SUB_E_IO, errno, "write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok;
}

static bool port_answers(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* The pid is ours only if it is still a mongod: pids are reused after a reboot. */
static bool pid_is_mongod(int pid)
{
    char path[64], cmd[4096];
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(cmd, 1, sizeof cmd - 1, f);
    fclose(f);
    cmd[n] = '\0'; /* argv[0] is the first NUL-terminated string */
    const char *base = strrchr(cmd, '/');
    return strstr(base ? base : cmd, "mongod") != NULL;
}

static bool instance_alive(int pid, int port)
{
    return pid > 0 && kill(pid, 0) == 0 && pid_is_mongod(pid) && port_answers(port);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static bool is_executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static char *search_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path)
        return NULL;
    char *copy = sub_xstrdup(path), *save = NULL, *found = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char *cand = sub_path_join(*dir ? dir : ".", name);
        if (is_executable(cand)) {
            found = cand;
            break;
        }
        free(cand);
    }
    free(copy);
    return found;
}

bool sub_mongod_find_binary(const sub_config_t *cfg, char **out, sub_error_t *err)
{
    const char *explicit = sub_config_get(cfg, SUB_SET_MONGOD);
    *out = NULL;
    if (explicit) {
        if (!is_executable(explicit))
            return sub_error_set(err, SUB_E_MONGOD, 0,
                                 "SUBSETTER_MONGOD (%s): %s is not an executable file",
                                 sub_config_origin(cfg, SUB_SET_MONGOD), explicit);
        *out = sub_xstrdup(explicit);
        return true;
    }
    if ((*out = search_path("mongod")) != NULL)
        return true;
    char *pinned = sub_xasprintf("%s/mongodb-%s/bin/mongod", sub_config_get(cfg, SUB_SET_CACHE_DIR),
                                 SUB_MONGOD_PINNED_VERSION);
    if (is_executable(pinned)) {
        *out = pinned;
        return true;
    }
    sub_error_set(err, SUB_E_MONGOD, 0,
                  "no mongod found: not in SUBSETTER_MONGOD, not on PATH, not at %s; run "
                  "scripts/setup to install the pinned MongoDB %s, or set FIFTYONE_DATABASE_URI",
                  pinned, SUB_MONGOD_PINNED_VERSION);
    free(pinned);
    return false;
}

/* mongod logs JSON lines; the last error ("s":"E" or "F") usually says why it stopped. */
static void last_log_error(const char *logpath, char *out, size_t size)
{
    FILE *f = fopen(logpath, "r");
    char line[2048];
    out[0] = '\0';
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "\"s\":\"E\"") || strstr(line, "\"s\":\"F\"")) {
            const char *msg = strstr(line, "\"msg\":");
            snprintf(out, size, "%.*s", 300, msg ? msg : line);
            out[strcspn(out, "\n")] = '\0';
        }
    }
    fclose(f);
}

static void child_exec(const char *binary, const paths_t *p, int port)
{
    char portbuf[16];
    snprintf(portbuf, sizeof portbuf, "%d", port);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
    }
    setsid();
    const char *argv[] = {binary,     "--dbpath",    p->dbpath,        "--bind_ip", "127.0.0.1",
                          "--port",   portbuf,       "--nounixsocket", "--fork",    "--logpath",
                          p->logpath, "--logappend", "--pidfilepath",  p->pid_path, NULL};
    execv(binary, (char *const *)argv);
    _exit(127);
}

/* Runs `mongod --fork`: its parent process exits only once the server accepts
 * connections (0) or has failed to start (non-zero). */
static bool spawn_once(const char *binary, const paths_t *p, int port, int *pid_out,
                       sub_error_t *err)
{
    unlink(p->pid_path);
    pid_t child = fork();
    if (child < 0)
        return sub_error_set(err, SUB_E_MONGOD, errno, "fork: %s", strerror(errno));
    if (child == 0)
        child_exec(binary, p, port);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char why[400];
        last_log_error(p->logpath, why, sizeof why);
        return sub_error_set(err, SUB_E_MONGOD, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                             "%s failed to start on 127.0.0.1:%d (exit %d)%s%s; log: %s", binary,
                             port, WIFEXITED(status) ? WEXITSTATUS(status) : -1, *why ? ": " : "",
                             why, p->logpath);
    }
    int pid = 0;
    FILE *f = fopen(p->pid_path, "r");
    if (!f || fscanf(f, "%d", &pid) != 1 || pid <= 0) {
        if (f)
            fclose(f);
        return sub_error_set(err, SUB_E_MONGOD, 0, "mongod started but wrote no pid to %s",
                             p->pid_path);
    }
    fclose(f);
    *pid_out = pid;
    return true;
}

static void info_fill(sub_mongod_info_t *info, const paths_t *p, int pid, int port)
{
    info->pid = pid;
    info->port = port;
    free(info->uri);
    info->uri = sub_xasprintf("mongodb://127.0.0.1:%d/", port);
    free(info->dbpath);
    info->dbpath = sub_xstrdup(p->dbpath);
    free(info->logpath);
    info->logpath = sub_xstrdup(p->logpath);
}

static bool start_locked(const sub_config_t *cfg, const paths_t *p, sub_mongod_info_t *info,
                         sub_error_t *err)
{
    char *binary = NULL;
    if (!sub_mongod_find_binary(cfg, &binary, err))
        return false;
    bool ok = false;
    for (int attempt = 1; attempt <= START_ATTEMPTS && !ok; attempt++) {
        int port = free_port(), pid = 0;
        if (port < 0) {
            sub_error_set(err, SUB_E_MONGOD, errno, "no free port on 127.0.0.1: %s",
                          strerror(errno));
            break;
        }
        SUB_LOG(SUB_LOG_INFO, "starting %s on 127.0.0.1:%d, data in %s", binary, port, p->dbpath);
        if (!spawn_once(binary, p, port, &pid, err))
            continue;
        if (!state_write(p->state_path, pid, port, err)) {
            kill(pid, SIGTERM);
            break;
        }
        info_fill(info, p, pid, port);
        ok = true;
    }
    free(info->binary);
    info->binary = binary;
    return ok;
}

bool sub_mongod_ensure(const sub_config_t *cfg, sub_mongod_info_t *info, bool *started,
                       sub_error_t *err)
{
    paths_t p = {0};
    int lock = -1, pid = 0, port = 0;
    bool ok = false;
    *started = false;
    if (!paths_init(cfg, &p, err) || !lock_acquire(p.lock_path, &lock, err))
        goto out;
    if (state_read(p.state_path, &pid, &port) && instance_alive(pid, port)) {
        info_fill(info, &p, pid, port);
        ok = true;
        goto out;
    }
    ok = start_locked(cfg, &p, info, err);
    *started = ok;
out:
    lock_release(lock);
    paths_release(&p);
    return ok;
}

bool sub_mongod_status(const sub_config_t *cfg, sub_mongod_info_t *info, bool *running,
                       sub_error_t *err)
{
    paths_t p = {0};
    int pid = 0, port = 0;
    *running = false;
    if (!paths_init(cfg, &p, err)) {
        paths_release(&p);
        return false;
    }
    if (state_read(p.state_path, &pid, &port) && instance_alive(pid, port)) {
        info_fill(info, &p, pid, port);
        *running = true;
    } else {
        info_fill(info, &p, 0, 0);
        free(info->uri);
        info->uri = NULL;
    }
    paths_release(&p);
    return true;
}

static bool wait_gone(int pid, int seconds)
{
    for (int waited = 0; waited < seconds * 1000; waited += 50) {
        if (kill(pid, 0) != 0 && errno == ESRCH)
            return true;
        sleep_ms(50);
    }
    return false;
}

bool sub_mongod_stop(const sub_config_t *cfg, bool *was_running, sub_error_t *err)
{
    paths_t p = {0};
    int lock = -1, pid = 0, port = 0;
    bool ok = false;
    *was_running = false;
    if (!paths_init(cfg, &p, err) || !lock_acquire(p.lock_path, &lock, err))
        goto out;
    if (state_read(p.state_path, &pid, &port) && kill(pid, 0) == 0 && pid_is_mongod(pid)) {
        *was_running = true;
        SUB_LOG(SUB_LOG_INFO, "stopping mongod pid %d on 127.0.0.1:%d", pid, port);
        kill(pid, SIGTERM);
        if (!wait_gone(pid, STOP_GRACE_SECONDS)) {
            SUB_LOG(SUB_LOG_WARN, "mongod pid %d still running after %d s, killing it", pid,
                    STOP_GRACE_SECONDS);
            kill(pid, SIGKILL);
            wait_gone(pid, 5);
        }
    }
    unlink(p.state_path);
    ok = true;
out:
    lock_release(lock);
    paths_release(&p);
    return ok;
}

void sub_mongod_info_release(sub_mongod_info_t *info)
{
    free(info->uri);
    free(info->dbpath);
    free(info->logpath);
    free(info->binary);
    memset(info, 0, sizeof *info);
}
