//! Lessons: pick a built-in lesson, read what it shows, and run it (its runs one after the other,
//! overlaid on the plot).

use super::AppCommand;
use crate::experiment::ExperimentConfig;
use crate::experiment::lessons::{self, Lesson};

/// Which lesson is picked and how far its runs have got.
#[derive(Debug, Clone)]
pub struct LessonState {
    lessons: Vec<Lesson>,
    /// The picked lesson (index into [`lessons::lessons`]).
    pub selected: Option<usize>,
    /// The run of the picked lesson that is training (or last trained) as part of the lesson.
    pub current_run: Option<usize>,
}

impl Default for LessonState {
    fn default() -> Self {
        Self {
            lessons: lessons::lessons(),
            selected: None,
            current_run: None,
        }
    }
}

impl LessonState {
    /// All lessons.
    pub fn lessons(&self) -> &[Lesson] {
        &self.lessons
    }

    /// The picked lesson.
    pub fn selected_lesson(&self) -> Option<&Lesson> {
        self.selected.and_then(|i| self.lessons.get(i))
    }

    /// Picks lesson `index`; returns its first run's experiment to load.
    pub fn pick(&mut self, index: usize) -> Option<ExperimentConfig> {
        let lesson = self.lessons.get(index)?;
        self.selected = Some(index);
        self.current_run = None;
        lesson.runs.first().map(|r| r.config.clone())
    }

    /// The lesson after the picked one (wrapping), for the N key.
    pub fn next_index(&self) -> usize {
        self.selected
            .map_or(0, |i| (i + 1) % self.lessons.len().max(1))
    }

    /// A run is starting with `config`: if it is one of the picked lesson's runs, that run and
    /// the lesson's later ones, to be trained one after the other; any other configuration is a
    /// plain run (`None`).
    pub fn on_start(&mut self, config: &ExperimentConfig) -> Option<Vec<ExperimentConfig>> {
        let lesson = self.selected_lesson()?;
        let position = lesson.runs.iter().position(|r| &r.config == config);
        let runs = position.map(|i| lesson.runs[i..].iter().map(|r| r.config.clone()).collect());
        self.current_run = position;
        runs
    }

    /// The lesson's next run has started.
    pub fn advance(&mut self) {
        self.current_run = self.current_run.map(|i| i + 1);
    }

    /// The lesson list in the settings column.
    pub fn picker_ui(&self, ui: &mut egui::Ui, editable: bool) -> Option<AppCommand> {
        let mut command = None;
        let selected_text = self.selected_lesson().zip(self.selected).map_or_else(
            || "none: free experiment".to_owned(),
            |(l, i)| format!("{}. {}", i + 1, l.title),
        );
        ui.add_enabled_ui(editable, |ui| {
            egui::ComboBox::from_label("Lesson")
                .selected_text(selected_text)
                .width(ui.available_width() - 60.0)
                .show_ui(ui, |ui| {
                    for (i, lesson) in self.lessons.iter().enumerate() {
                        let picked = self.selected == Some(i);
                        let text = format!("{}. {}", i + 1, lesson.title);
                        if ui
                            .selectable_label(picked, text)
                            .on_hover_text(lesson.explanation)
                            .clicked()
                        {
                            command = Some(AppCommand::PickLesson(i));
                        }
                    }
                });
        });
        ui.small("Pick a lesson, then Start (Space); N: next lesson.");
        command
    }

    /// The picked lesson's explanation, shown above the plot.
    pub fn card_ui(&self, ui: &mut egui::Ui) {
        let Some((index, lesson)) = self.selected.zip(self.selected_lesson()) else {
            return;
        };
        egui::Frame::group(ui.style())
            .fill(ui.visuals().faint_bg_color)
            .show(ui, |ui| {
                ui.set_width(ui.available_width());
                ui.strong(format!("Lesson {}: {}", index + 1, lesson.title));
                ui.label(lesson.explanation);
                ui.label(format!("Look for: {}", lesson.look_for));
                if lesson.runs.len() > 1 {
                    ui.horizontal_wrapped(|ui| {
                        ui.label("Runs:");
                        for (i, run) in lesson.runs.iter().enumerate() {
                            let text = format!("{}. {}", i + 1, run.label);
                            if self.current_run == Some(i) {
                                ui.strong(format!("{text} (this run)"));
                            } else {
                                ui.label(text);
                            }
                        }
                    });
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lesson_run_queues_the_lesson_from_there_on() {
        let mut state = LessonState::default();
        let index = state
            .lessons()
            .iter()
            .position(|l| l.runs.len() >= 2)
            .unwrap();
        let runs = state.lessons()[index].runs.clone();
        let first = state.pick(index).unwrap();
        assert_eq!(first, runs[0].config);
        let queued = state.on_start(&first).unwrap();
        assert_eq!(queued.len(), runs.len());
        assert_eq!(queued[1], runs[1].config);
        assert_eq!(state.current_run, Some(0));
        state.advance();
        assert_eq!(state.current_run, Some(1));
        // Starting from the second run queues the rest only.
        assert_eq!(
            state.on_start(&runs[1].config).unwrap().len(),
            runs.len() - 1
        );

        // A changed configuration is a plain run, not part of the lesson.
        let mut changed = first;
        changed.seed += 1;
        assert_eq!(state.on_start(&changed), None);
        assert_eq!(state.current_run, None);
        assert_eq!(state.next_index(), (index + 1) % state.lessons().len());
    }
}
