"""Assignment strategies (`rlhf.active`): each comparison's place in the random order and its uncertainty, the
Datanet's strategy and random share, the strategy each assignment was served by, and the judging functions, version
3 (the files of `annotation/judging/sql/v3/`, each of which says what changed). Existing comparisons get the
shuffle key of their texts, as new ones do. Backward: v3's functions are dropped and v2's come back."""

import django.core.validators
from django.db import migrations, models

from feedback_site.annotation.judging.sql import sql_file, sql_files
from rlhf.active import shuffle_key

from ._postgres import run_on_postgresql

PG_FORWARD = sql_files("v3", "strategy_drawn", "comparisons_open", "assign_next", "token_assign_next")
PG_BACKWARD = sql_file("v3/drop_0007.sql") + sql_files("v2", "comparisons_open", "assign_next", "token_assign_next")


def shuffle_keys_fill(apps, schema_editor):
    Comparison = apps.get_model("annotation", "Comparison")
    rows = Comparison.objects.select_related("prompt", "response_a", "response_b").order_by("id")
    changed = []
    for comparison in rows.iterator(chunk_size=2000):
        comparison.shuffle_key = shuffle_key(comparison.prompt.text, comparison.response_a.text,
                                             comparison.response_b.text)
        changed.append(comparison)
        if len(changed) >= 2000:
            Comparison.objects.bulk_update(changed, ["shuffle_key"])
            changed = []
    Comparison.objects.bulk_update(changed, ["shuffle_key"])


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0006_judging_functions_v2'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='comparison',
            name='comparison_queue',
        ),
        migrations.AddField(
            model_name='assignment',
            name='strategy',
            field=models.CharField(default='random', max_length=20),
        ),
        migrations.AddField(
            model_name='comparison',
            name='shuffle_key',
            field=models.FloatField(default=0.0),
        ),
        migrations.AddField(
            model_name='comparison',
            name='uncertainty',
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='datanet',
            name='assignment_strategy',
            field=models.CharField(choices=[('random', 'random'), ('uncertainty', 'uncertainty')], default='random', help_text="Which open comparison a request is served: random: serve comparisons in a random order fixed by their content; no model chooses; uncertainty: serve first the comparisons the Datanet's scoring reward model is least sure of, keeping a random share of requests random for unbiased evaluation.", max_length=20),
        ),
        migrations.AddField(
            model_name='datanet',
            name='random_share',
            field=models.FloatField(default=0.2, help_text='Under uncertainty: the share of requests still served at random, an unbiased sample for evaluating the reward model.', validators=[django.core.validators.MinValueValidator(0.0), django.core.validators.MaxValueValidator(1.0)]),
        ),
        migrations.AddField(
            model_name='datanet',
            name='scored_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='datanet',
            name='scored_by',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddIndex(
            model_name='comparison',
            index=models.Index(fields=['datanet', 'judgment_count', 'shuffle_key', 'id'], name='comparison_queue_random'),
        ),
        migrations.AddIndex(
            model_name='comparison',
            index=models.Index(fields=['datanet', 'judgment_count', '-uncertainty', 'shuffle_key', 'id'], name='comparison_queue_uncertain'),
        ),
        migrations.RunPython(shuffle_keys_fill, migrations.RunPython.noop),
        run_on_postgresql(PG_FORWARD, PG_BACKWARD),
    ]
