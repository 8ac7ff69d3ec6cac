"""Evaluation tasks: problems with references and a scorer (see ``ponder.tasks.base``)."""

from ponder.tasks.base import Score, Task, TaskFamily, make_task, task_names

__all__ = ["Score", "Task", "TaskFamily", "make_task", "task_names"]
