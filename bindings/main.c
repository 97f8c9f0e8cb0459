/* The `cleanil` program: a Lua 5.4 interpreter with the engine preloaded.
 *   cleanil script.lua [args...]   run a script (also found under the installed lua/ tree)
 *   cleanil -e 'code' [args...]    run a string
 *   cleanil                        interactive REPL with line editing and history
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <malloc.h>
#include <pthread.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>
#include "lcil.h"

#ifndef CIL_LUA_DIR
#define CIL_LUA_DIR "lua"
#endif
#ifndef CIL_VERSION
#define CIL_VERSION "0.1.0"
#endif

static lua_State *gL = NULL;

/* Signals (SIGINT, SIGTERM, SIGUSR1). The handler only records which one came. A script that polls
 * them (cil.interrupted(), called by the training loops at every step) stops at its next consistent
 * point, writes a checkpoint and exits with status 3; in a script that never polled (the REPL, tools)
 * the signal raises "interrupted" at the next Lua instruction, as Ctrl-C always did. A second SIGINT or
 * SIGTERM while a first SIGINT or SIGTERM is pending ends the process at once (the default action); a
 * SIGUSR1 beside one of them, in either order, does not. Checkpoints are
 * written to a temporary name and renamed, so the last complete one survives. */
static volatile sig_atomic_t pending_signal = 0;
static volatile sig_atomic_t polled = 0;      /* the running script polls cil.interrupted() */
static pthread_t main_thread;                 /* the Lua thread: the only one that acts on a signal */

static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  int sig = pending_signal;
  pending_signal = 0;
  luaL_error(L, "interrupted (%s)", sig == SIGTERM ? "SIGTERM" : sig == SIGUSR1 ? "SIGUSR1" : "SIGINT");
}
static void on_signal(int sig) {
  /* our pools start their threads with signals blocked, but a library's threads (OpenBLAS starts its
   * own at load) may take a process signal: hand it to the Lua thread, which alone touches the state */
  if (!pthread_equal(pthread_self(), main_thread)) {
    pthread_kill(main_thread, sig);
    return;
  }
  if (pending_signal) {
    /* a notice (SIGUSR1) before or after a SIGINT/SIGTERM is the same request passed on by a batch
     * shell or a sweep pool, in either order (Slurm signals the shell and the run one after the
     * other): never a reason to stop at once. Only a second SIGINT/SIGTERM is. */
    if (sig == SIGUSR1) return;
    if (pending_signal == SIGUSR1) { pending_signal = sig; return; }
    signal(sig, SIG_DFL);                  /* the second SIGINT or SIGTERM: stop now */
    raise(sig);
    return;
  }
  pending_signal = sig;
  if (!polled && gL) lua_sethook(gL, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}
static void catch_signals(int on) {
  struct sigaction sa;
  main_thread = pthread_self();
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on ? on_signal : SIG_DFL;
  sa.sa_flags = SA_RESTART;                /* reads and writes in progress complete */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
}
/* cil.interrupted() -> "SIGINT" | "SIGTERM" | "SIGUSR1" | nil: the signal received and not yet acted
 * on. The first call makes this script a polling one (signals no longer raise errors). */
static int l_interrupted(lua_State *L) {
  polled = 1;
  if (gL) lua_sethook(gL, NULL, 0, 0);     /* a hook set before this first poll */
  int sig = pending_signal;
  if (!sig) lua_pushnil(L);
  else lua_pushstring(L, sig == SIGTERM ? "SIGTERM" : sig == SIGUSR1 ? "SIGUSR1" : "SIGINT");
  return 1;
}
/* cil.sleep(seconds): wait; a signal ends the wait early (a sweep's pool notices it at once) */
static int l_sleep(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  if (!(s >= 0 && s <= 86400)) return luaL_error(L, "cil.sleep: seconds must be in [0, 86400], got %f", s);
  if (s > 0 && !pending_signal) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
  }
  return 0;
}

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int docall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  catch_signals(1);
  int st = lua_pcall(L, narg, nres, base);
  catch_signals(0);
  lua_remove(L, base);
  return st;
}

static int report(lua_State *L, int st) {
  if (st != LUA_OK) {
    const char *msg = lua_gettop(L) > 0 ? lua_tostring(L, -1) : NULL;
    fprintf(stderr, "cleanil: %s\n", msg ? msg : "(error object is not a string)");
    fflush(stderr);
    if (lua_gettop(L) > 0) lua_pop(L, 1);
  }
  return st;
}

static const char *lua_dir(void);
/* names of the .lua files in <lua dir>/<sub>, comma-separated */
static void list_scripts(const char *sub) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", lua_dir(), sub);
  DIR *d = opendir(path);
  if (!d) {
    printf("  (none found in %s)\n", path);
    return;
  }
  struct dirent *e;
  printf("  ");
  int n = 0;
  char names[64][256];
  while ((e = readdir(d)) && n < 64) {
    size_t l = strlen(e->d_name);
    if (l > 4 && strcmp(e->d_name + l - 4, ".lua") == 0) snprintf(names[n++], 256, "%s", e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
  for (int i = 0; i < n; i++) printf("%s%s/%s", i ? "  " : "", sub, names[i]);
  printf("\n");
}

static void usage(void) {
  printf("cleanil %s - imitation learning and inverse RL on a C engine, scripted in Lua 5.4\n\n"
         "usage:\n"
         "  cleanil                        open the REPL (engine loaded as `cil`)\n"
         "  cleanil SCRIPT [ARGS...]       run a Lua script; SCRIPT may be a path or a name under\n"
         "                                 the installed lua/ tree, e.g. algorithms/bc.lua\n"
         "  cleanil -e CODE [ARGS...]      run a string of Lua\n"
         "  cleanil --help | --version\n\n"
         "algorithm scripts take --help and --key=value overrides, e.g.\n"
         "  cleanil algorithms/bc.lua --help\n"
         "  cleanil algorithms/bc.lua --env=hopper --preset=quick\n\n"
         "environment:\n"
         "  CLEANIL_NUM_THREADS   threads for BLAS and the engine (default 1)\n"
         "  CLEANIL_LUA_DIR       where the lua/ tree lives (default %s)\n\n",
         CIL_VERSION, lua_dir());
  printf("algorithms (each takes --help for its config keys and defaults):\n");
  list_scripts("algorithms");
  printf("tools:\n");
  list_scripts("tools");
}

/* Where the lua/ tree is: $CLEANIL_LUA_DIR if set; else, for an installed cleanil (PREFIX/bin/cleanil),
 * PREFIX/share/cleanil/lua, found from the executable's own path (so it runs from any directory);
 * else the build's CIL_LUA_DIR (the source tree). */
static const char *lua_dir(void) {
  const char *d = getenv("CLEANIL_LUA_DIR");
  if (d && *d) return d;
  static char installed[4096];
  static int looked = 0;
  if (!looked) {
    looked = 1;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash;
    if (n > 0) {
      exe[n] = 0;
      for (int up = 0; up < 2 && (slash = strrchr(exe, '/')); up++) *slash = 0; /* PREFIX/bin/cleanil -> PREFIX */
      char probe[4096 + 64];
      snprintf(probe, sizeof probe, "%s/share/cleanil/lua/cleanil/init.lua", exe);
      if (access(probe, R_OK) == 0 && strlen(exe) + 20 < sizeof installed)
        snprintf(installed, sizeof installed, "%.4000s/share/cleanil/lua", exe);
    }
  }
  return installed[0] ? installed : CIL_LUA_DIR;
}

static void setup(lua_State *L) {
  luaL_openlibs(L);
  /* many short-lived tensor handles per update: the generational collector keeps them cheap */
  lua_gc(L, LUA_GCGEN, 0, 0);
  /* package.path: our lua/ tree first */
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  const char *old = lua_tostring(L, -1);
  const char *d = lua_dir();
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", d, d, old ? old : "");
  lua_setfield(L, -3, "path");
  lua_pop(L, 1);
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_cleanil_core);
  lua_setfield(L, -2, "cleanil.core");
  lua_pop(L, 2);
  lua_pushstring(L, d);
  lua_setglobal(L, "CLEANIL_LUA_DIR");
  lua_pushstring(L, CIL_VERSION);
  lua_setglobal(L, "CLEANIL_VERSION");
  const char *nt = getenv("CLEANIL_NUM_THREADS");
  cil_set_num_threads(nt && atoi(nt) > 0 ? atoi(nt) : 1);
}

static int load_engine(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushstring(L, "cleanil");
  int st = docall(L, 1, 1);
  if (st != LUA_OK) return report(L, st);
  lua_pushcfunction(L, l_interrupted);
  lua_setfield(L, -2, "interrupted");
  lua_pushcfunction(L, l_sleep);
  lua_setfield(L, -2, "sleep");
  lua_setglobal(L, "cil");
  return LUA_OK;
}

static void create_arg(lua_State *L, char **argv, int argc, int script) {
  luaL_checkstack(L, 3, "creating arg");
  lua_createtable(L, argc - script - 1, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int file_exists(const char *p) { return access(p, R_OK) == 0; }

static int run_script(lua_State *L, const char *name, char **argv, int argc, int script) {
  char path[4096];
  const char *use = name;
  if (!file_exists(name)) {
    snprintf(path, sizeof path, "%s/%s", lua_dir(), name);
    if (file_exists(path)) use = path;
  }
  create_arg(L, argv, argc, script);
  int st = luaL_loadfile(L, use);
  if (st != LUA_OK) return report(L, st);
  int n = argc - script - 1;
  /* the script's arguments also go on the stack as its varargs: room for all of them first */
  if (!lua_checkstack(L, n + 4)) {
    lua_pop(L, 1);
    fprintf(stderr, "cleanil: too many arguments for the script (%d; the Lua stack holds fewer)\n", n);
    return LUA_ERRRUN;
  }
  for (int i = 1; i <= n; i++) lua_pushstring(L, argv[script + i]);
  return report(L, docall(L, n, 0));
}

/* ------------------------------------------------------------------ REPL */
static int incomplete(lua_State *L, int st) {
  if (st == LUA_ERRSYNTAX) {
    size_t lmsg;
    const char *msg = lua_tolstring(L, -1, &lmsg);
    if (lmsg >= 5 && strcmp(msg + lmsg - 5, "<eof>") == 0) {
      lua_pop(L, 1);
      return 1;
    }
  }
  return 0;
}

/* prints every value on the stack; run under lua_pcall, since __tostring and __name may raise */
static int print_values(lua_State *L) {
  int n = lua_gettop(L);
  luaL_checkstack(L, 4, "printing results");
  for (int i = 1; i <= n; i++) {
    luaL_tolstring(L, i, NULL);
    fputs(lua_tostring(L, -1), stdout);
    fputs(i < n ? "\t" : "\n", stdout);
    lua_pop(L, 1);
  }
  fflush(stdout);
  return 0;
}
static void print_results(lua_State *L) {
  int n = lua_gettop(L);
  if (n == 0) return;
  if (!lua_checkstack(L, 4)) {
    fprintf(stderr, "cleanil: too many results to print (%d)\n", n);
    lua_settop(L, 0);
    return;
  }
  lua_pushcfunction(L, print_values);
  lua_insert(L, 1);
  report(L, docall(L, n, 0));
}

static char *read_line(const char *prompt, int tty) {
  if (tty) return readline(prompt);
  static char buf[65536];
  if (!fgets(buf, sizeof buf, stdin)) return NULL;
  size_t l = strlen(buf);
  if (l && buf[l - 1] == '\n') buf[l - 1] = 0;
  return strdup(buf);
}

static void repl(lua_State *L) {
  int tty = isatty(0);
  if (luaL_dostring(L, "help = cil.help") != LUA_OK) lua_pop(L, 1);
  char hist[4096] = "";
  const char *home = getenv("HOME");
  if (tty && home) {
    snprintf(hist, sizeof hist, "%s/.cleanil_history", home);
    read_history(hist);
    printf("cleanil %s REPL - the engine is `cil`; try  x = cil.randn(2, 3)  or  help()\n",
           CIL_VERSION);
  }
  for (;;) {
    char *line = read_line("> ", tty);
    if (!line) break;
    if (!*line) {
      free(line);
      continue;
    }
    size_t cap = strlen(line) + 1;
    char *chunk = malloc(cap);
    strcpy(chunk, line);
    free(line);
    lua_settop(L, 0);
    /* expression first, so `x` prints x */
    char *ret = malloc(strlen(chunk) + 8);
    sprintf(ret, "return %s", chunk);
    int st = luaL_loadbuffer(L, ret, strlen(ret), "=stdin");
    free(ret);
    if (st != LUA_OK) {
      lua_pop(L, 1);
      for (;;) {
        st = luaL_loadbuffer(L, chunk, strlen(chunk), "=stdin");
        if (!incomplete(L, st)) break;
        char *more = read_line(">> ", tty);
        if (!more) { /* input ended inside a statement: report the syntax error itself */
          st = luaL_loadbuffer(L, chunk, strlen(chunk), "=stdin");
          break;
        }
        cap = strlen(chunk) + strlen(more) + 2;
        chunk = realloc(chunk, cap);
        strcat(chunk, "\n");
        strcat(chunk, more);
        free(more);
      }
    }
    if (tty) add_history(chunk);
    free(chunk);
    if (st == LUA_OK) st = docall(L, 0, LUA_MULTRET);
    if (st == LUA_OK) print_results(L);
    else report(L, st);
  }
  if (tty && hist[0]) write_history(hist);
  if (tty) printf("\n");
}

struct pargs {
  int argc;
  char **argv;
  int st; /* outcome: LUA_OK or an error status */
};
static int pmain(lua_State *L) {
  struct pargs *a = lua_touserdata(L, 1);
  int argc = a->argc;
  char **argv = a->argv;
  lua_settop(L, 0);
  setup(L);
  int st = load_engine(L);
  if (st == LUA_OK) {
    if (argc > 1 && !strcmp(argv[1], "-e")) {
      if (argc < 3) {
        fprintf(stderr, "cleanil: -e needs an argument\n");
        st = 1;
      } else {
        create_arg(L, argv, argc, 1);
        st = luaL_loadbuffer(L, argv[2], strlen(argv[2]), "=(command line)");
        if (st == LUA_OK) st = docall(L, 0, 0);
        report(L, st);
      }
    } else if (argc > 1 && strcmp(argv[1], "-") != 0) {
      st = run_script(L, argv[1], argv, argc, 1);
    } else {
      repl(L);
    }
  }
  a->st = st;
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    usage();
    return 0;
  }
  if (argc > 1 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-v"))) {
    printf("cleanil %s (%s)\n", CIL_VERSION, LUA_RELEASE);
    return 0;
  }
  /* keep freed heap memory instead of trimming and re-faulting it every update */
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_TOP_PAD, 16 << 20);
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  lua_State *L = luaL_newstate();
  if (!L) {
    fprintf(stderr, "cleanil: cannot create Lua state\n");
    return 1;
  }
  gL = L;
  /* everything runs under lua_pcall (as in lua.c): an error outside a script's own protected calls is
   * reported, never a "PANIC: unprotected error" */
  struct pargs a = {argc, argv, LUA_OK};
  lua_pushcfunction(L, pmain);
  lua_pushlightuserdata(L, &a);
  int pst = lua_pcall(L, 1, 0, 0);
  if (pst != LUA_OK) {
    report(L, pst);
    a.st = pst;
  }
  lua_close(L);
  return a.st == LUA_OK ? 0 : 1;
}
