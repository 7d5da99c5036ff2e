//! The query documents, as the original's `module/api.py` sends them (spec §2.2). Operation names
//! repeat across documents (G5, G6 and G7 are all `UpdateUploadAnswerAndTaskStatus`), which is
//! why servers and fakes must dispatch on root fields, never on these names.

/// G1: may the caller edit the mentor?
pub const MENTOR_CAN_EDIT: &str = "query MentorCanEdit($mentor: ID!) {
  mentorCanEdit(mentor: $mentor)
}";

/// G2: the upload task's four tasks (`transcribeTask.payload` holds the Step Functions token).
pub const UPLOAD_TASK: &str = "query UploadTask($mentorId: ID!, $questionId: ID!) {
  uploadTask(mentorId: $mentorId, questionId: $questionId) {
    transcodeWebTask {
      task_id
      status
    }
    transcodeMobileTask {
      task_id
      status
    }
    transcribeTask {
      task_id
      status
      payload
    }
    trimUploadTask {
      task_id
      status
    }
  }
}";

/// G4: the question's name (`_IDLE_` marks an idle question).
pub const QUESTION: &str = "query Question($id: ID!) {
  question(id: $id) {
    name
  }
}";

/// G5: clear the answer's media before a new upload replaces them.
pub const CLEAR_ANSWER_MEDIA: &str = "mutation UpdateUploadAnswerAndTaskStatus($mentorId: ID!, $questionId: ID!, $answer: UploadAnswerType!) {
  api {
    uploadAnswer(mentorId: $mentorId, questionId: $questionId, answer: $answer)
  }
}";

/// G6: record the new upload's tasks (an upsert) and the answer fields sent with it.
pub const CREATE_UPLOAD_TASKS: &str = "mutation UpdateUploadAnswerAndTaskStatus($mentorId: ID!, $questionId: ID!, $answer: UploadAnswerType!, $status: UploadTaskInputType!) {
  api {
    uploadAnswer(mentorId: $mentorId, questionId: $questionId, answer: $answer)
    uploadTaskUpdate(mentorId: $mentorId, questionId: $questionId, status: $status)
  }
}";

/// G7: a finished task's media or transcript, on the answer and on the upload task at once.
pub const COMPLETE_TASK: &str = "mutation UpdateUploadAnswerAndTaskStatus($mentorId: ID!, $questionId: ID!, $answer: UploadAnswerType!, $uploadTaskStatusInput: UploadTaskStatusUpdateInputType!) {
  api {
    uploadAnswer(mentorId: $mentorId, questionId: $questionId, answer: $answer)
    uploadTaskStatusUpdate(mentorId: $mentorId, questionId: $questionId, uploadTaskStatusInput: $uploadTaskStatusInput)
  }
}";

/// G8: one task's status (and payload); the server refuses more than one task per call.
pub const UPDATE_TASK_STATUS: &str = "mutation UpdateUploadTaskStatus($mentorId: ID!, $questionId: ID!, $uploadTaskStatusInput: UploadTaskStatusUpdateInputType!) {
  api {
    uploadTaskStatusUpdate(mentorId: $mentorId, questionId: $questionId, uploadTaskStatusInput: $uploadTaskStatusInput)
  }
}";

/// G9: the mentor's thumbnail (a relative S3 key).
pub const MENTOR_THUMBNAIL_UPDATE: &str =
    "mutation MentorThumbnailUpdate($mentorId: ID!, $thumbnail: String!) {
  api {
    mentorThumbnailUpdate(mentorId: $mentorId, thumbnail: $thumbnail)
  }
}";

/// G11: an answer's subtitles, URL and text.
pub const MENTOR_VTT_UPDATE: &str = "mutation MentorVttUpdate($mentorId: ID!, $questionId: String!, $vttUrl: String!, $vttText: String!) {
  api {
    mentorVttUpdate(mentorId: $mentorId, questionId: $questionId, vttUrl: $vttUrl, vttText: $vttText)
  }
}";

/// G18: an answer's transcript and video media (regen_vtt).
pub const ANSWER: &str = "query Answer($mentor: ID!, $question: ID!) {
  answer(mentor: $mentor, question: $question) {
    transcript
    webMedia {
      type
      tag
      url
    }
    mobileMedia {
      type
      tag
      url
    }
  }
}";
