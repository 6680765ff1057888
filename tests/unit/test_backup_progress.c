/* test_backup_progress.c - what raftkv backup says of the leader's images
 * while START waits (backup_progress.h): each image on its own with its
 * own rate, never their sum, and growth of any of them is progress even
 * when another has just finished; in id order. */
#include <criterion/criterion.h>
#include <string.h>

#include "server/backup_progress.h"

#define MiB (1ull << 20)

Test(backup_progress, one_image_is_told_as_the_image)
{
    struct backup_progress last = {0}, now = {0};
    backup_progress_add(&last, 7, 6 * MiB);
    backup_progress_add(&now, 7, 12 * MiB);
    char line[256];
    backup_progress_line(&last, &now, 2000, line, sizeof line);
    cr_assert_str_eq(line, "the leader is writing the image: 12.0 MiB so far, 3.0 MiB/s");
}

Test(backup_progress, two_images_at_once_are_told_apart_not_summed)
{
    /* The first walks; the second (another client's) forks meanwhile. */
    struct backup_progress last = {0}, now = {0};
    backup_progress_add(&last, 1, 1 * MiB);
    backup_progress_add(&now, 2, 1 * MiB); /* STATUS: the newest first */
    backup_progress_add(&now, 1, 3 * MiB);
    char line[256];
    backup_progress_line(&last, &now, 2000, line, sizeof line);
    cr_assert_str_eq(line, "the leader is writing 2 images: id 1 3.0 MiB so far, 1.0 MiB/s; "
                           "id 2 1.0 MiB so far, 512.0 KiB/s");
    char sizes[256];
    backup_progress_sizes(&now, sizes, sizeof sizes);
    cr_assert_str_eq(sizes, "the images at id 1 3.0 MiB, id 2 1.0 MiB");
}

Test(backup_progress, sizes_of_one_image_or_none)
{
    struct backup_progress none = {0}, one = {0};
    backup_progress_add(&one, 3, 512 * 1024);
    char sizes[256];
    backup_progress_sizes(&one, sizes, sizeof sizes);
    cr_assert_str_eq(sizes, "the image at 512.0 KiB");
    backup_progress_sizes(&none, sizes, sizeof sizes);
    cr_assert_str_eq(sizes, "the image at 0 B");
    char line[64] = "x";
    backup_progress_line(&none, &none, 2000, line, sizeof line);
    cr_assert_str_eq(line, "");
}

Test(backup_progress, growth_of_any_image_is_progress_even_as_another_finishes)
{
    struct backup_progress before = {0}, after = {0}, same = {0}, started = {0}, idle = {0};
    backup_progress_add(&before, 1, 100 * MiB);
    backup_progress_add(&before, 2, 10 * MiB);
    /* Image 1 is ready (STATUS no longer lists it as written); image 2
     * grew, though the two together are far less than before. */
    backup_progress_add(&after, 2, 20 * MiB);
    cr_assert(backup_progress_grew(&before, &after));
    /* Nothing grew: image 1 finished, image 2 stood still. */
    backup_progress_add(&same, 2, 10 * MiB);
    cr_assert_not(backup_progress_grew(&before, &same));
    /* A new image with bytes grew from nothing; one still confirming has
     * none. */
    backup_progress_add(&started, 2, 10 * MiB);
    backup_progress_add(&started, 3, 1);
    cr_assert(backup_progress_grew(&before, &started));
    backup_progress_add(&idle, 2, 10 * MiB);
    backup_progress_add(&idle, 3, 0);
    cr_assert_not(backup_progress_grew(&before, &idle));
}

Test(backup_progress, images_past_the_table_are_counted)
{
    struct backup_progress p = {0};
    for (uint64_t id = 1; id <= BACKUP_PROGRESS_MAX + 2; id++)
        backup_progress_add(&p, id, 1024);
    cr_assert_eq(p.n, BACKUP_PROGRESS_MAX);
    cr_assert_eq(p.more, 2);
    char line[1024];
    backup_progress_line(&p, &p, 2000, line, sizeof line);
    cr_assert(strstr(line, "the leader is writing 10 images: id 1 1.0 KiB so far, 0 B/s; id 2 ") == line, "%s", line);
    cr_assert(strstr(line, "; id 8 1.0 KiB so far, 0 B/s; 2 more") != NULL, "%s", line);
    char sizes[1024];
    backup_progress_sizes(&p, sizes, sizeof sizes);
    cr_assert(strstr(sizes, ", id 8 1.0 KiB, 2 more") != NULL, "%s", sizes);
}

Test(backup_progress, a_short_buffer_is_cut_not_overrun)
{
    struct backup_progress p = {0};
    backup_progress_add(&p, 1, 3 * MiB);
    backup_progress_add(&p, 2, 1 * MiB);
    char line[24];
    memset(line, 'z', sizeof line);
    backup_progress_line(&p, &p, 2000, line, 20);
    cr_assert_str_eq(line, "the leader is writi");
    cr_assert_eq(line[20], 'z');
}
