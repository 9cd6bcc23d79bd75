FROM python:3.11-slim
WORKDIR /app
# the whole project, less what .dockerignore leaves out (tests/nearline/test_image.py
# builds and runs a wheel from exactly this set)
COPY . .
RUN pip install --no-cache-dir .
# the rescorer's numba kernels, compiled into the image once (cached beside the package)
RUN python -c "from scoring.recommend import compile_kernels; compile_kernels()"
ENV NEARLINE_WEB_HOST=0.0.0.0 NEARLINE_DATA_DIR=/var/lib/nearline
EXPOSE 6066
CMD ["nearline", "worker", "--loglevel", "info"]
