/* bare_mhd.c: the HTTP ceilings of our stack for `make bench`: libmicrohttpd with the
 * same daemon flags and thread pool as rill, answering every request 204 after reading
 * its body. Usage: bare-mhd PORT THREADS [FILE] (runs until killed).
 *
 * With FILE, the ceiling of a durable answer (rill's flush.policy=always): each body is
 * appended to FILE, the connection suspended, and a sync thread makes every append so
 * far durable with one fdatasync (group commit), then resumes their connections, which
 * answer 204. Nothing else: no parsing, no framing, no index. */
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* A request: its body appended, waiting for the sync, then answered. */
struct req {
    bool appended;
    bool durable;
    struct MHD_Connection *conn;
    struct req *next;
};

static int log_fd = -1;
static off_t log_end;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER;
static struct req *waiting; /* appended, not yet durable */

static void *sync_loop(void *arg)
{
    (void)arg;
    for (;;) {
        struct req *batch;

        pthread_mutex_lock(&lock);
        while (!waiting)
            pthread_cond_wait(&work, &lock);
        batch = waiting;
        waiting = NULL;
        pthread_mutex_unlock(&lock);
        if (fdatasync(log_fd))
            abort();
        while (batch) {
            struct req *next = batch->next;

            batch->durable = true;
            MHD_resume_connection(batch->conn);
            batch = next;
        }
    }
    return NULL;
}

static enum MHD_Result answer(struct MHD_Connection *conn)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_NO_CONTENT, resp);

    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    static int first;
    struct req *r;

    (void)cls, (void)url, (void)method, (void)version;
    if (!*req_cls) {
        *req_cls = log_fd < 0 ? (void *)&first : calloc(1, sizeof(struct req));
        return *req_cls ? MHD_YES : MHD_NO;
    }
    if (log_fd < 0) {
        if (*upload_data_size) {
            *upload_data_size = 0;
            return MHD_YES;
        }
        return answer(conn);
    }
    r = *req_cls;
    if (*upload_data_size) {
        pthread_mutex_lock(&lock);
        if (pwrite(log_fd, upload_data, *upload_data_size, log_end) !=
            (ssize_t)*upload_data_size)
            abort();
        log_end += (off_t)*upload_data_size;
        pthread_mutex_unlock(&lock);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->durable)
        return answer(conn);
    if (!r->appended) {
        r->appended = true;
        r->conn = conn;
        MHD_suspend_connection(conn);
        pthread_mutex_lock(&lock);
        r->next = waiting;
        waiting = r;
        pthread_cond_signal(&work);
        pthread_mutex_unlock(&lock);
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)conn, (void)code;
    if (log_fd >= 0)
        free(*req_cls);
    *req_cls = NULL;
}

int main(int argc, char **argv)
{
    struct MHD_Daemon *d;
    pthread_t syncer;
    sigset_t set;
    int sig;

    if (argc < 3)
        return 2;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (argc > 3) {
        log_fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (log_fd < 0 || pthread_create(&syncer, NULL, sync_loop, NULL))
            return 1;
    }
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                             MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC,
                         (uint16_t)atoi(argv[1]), NULL, NULL, on_request, NULL,
                         MHD_OPTION_THREAD_POOL_SIZE, (unsigned)atoi(argv[2]),
                         MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_NOTIFY_COMPLETED,
                         on_completed, NULL, MHD_OPTION_END);
    if (!d)
        return 1;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
