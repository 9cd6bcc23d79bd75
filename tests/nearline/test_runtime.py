from threadpoolctl import threadpool_info

from nearline.runtime import single_threaded_blas


def test_blas_runs_one_thread_per_process():
    single_threaded_blas()
    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert blas and all(lib["num_threads"] == 1 for lib in blas)
